"""/openapi.json: a valid OpenAPI 3.1 document that says what every operation takes and gives, and a client
generated from it (openapi-python-client, offline) that files a claim and asks for an advance payment
against a real served API on PostgreSQL."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.greenchannel.conftest import LANDFALL, make_world
from web.app import create_app
from web.openapi import build_openapi

# What a handler's own source shows it reads: a JSON body, or the query string.
READS_JSON = ("json_body(", "decimal_body(", "request.json(")
READS_QUERY = ("request.query", "query_int(", "rel_url.query")


def _operations():
    app = create_app(run_periodic=False)
    spec = build_openapi(app)
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method in ("HEAD", "*") or path.startswith("/static"):
            continue
        documented = next(p for p in spec["paths"] if p == path or _same_path(p, path))
        yield f"{route.method} {documented}", route.handler, spec["paths"][documented][route.method.lower()]


def _same_path(documented: str, routed: str) -> bool:
    import re

    return documented == re.sub(r"\{(\w+):[^}]*\}", r"{\1}", routed)


def test_the_document_is_valid_openapi_with_the_shared_error_shape_and_both_ways_to_sign_in():
    spec = build_openapi(create_app(run_periodic=False))
    validate(spec)  # raises, naming the first place that breaks OpenAPI 3.1
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["properties"]) == {"code", "message", "field"}, f"the error shape changed: {error}"
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer", f"Bearer keys are not described: {schemes}"
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "haven_session"), \
        f"the session cookie is not described: {schemes['session']}"
    assert (schemes["csrf"]["in"], schemes["csrf"]["name"]) == ("header", "X-CSRF-Token"), \
        f"the CSRF header is not described: {schemes.get('csrf')}"
    payments = spec["paths"]["/v1/claims/{id}/payments"]["post"]
    assert payments["x-roles"], "POST /v1/claims/{id}/payments lists no roles"
    login = spec["paths"]["/v1/auth/login"]["post"]
    assert {"400", "401", "429"} <= set(login["responses"]), \
        f"the staff sign-in does not list what it refuses: {sorted(login['responses'])}"
    assert "409" not in login["responses"], "the staff sign-in lists a 409 it never gives"
    assert {"session": [], "csrf": []} in payments["security"], \
        f"a cookie-authenticated payment request does not say it needs X-CSRF-Token: {payments['security']}"
    assert {"400", "401", "403", "404", "409", "413", "422"} <= set(payments["responses"]), \
        f"POST /v1/claims/{{id}}/payments does not list its errors: {sorted(payments['responses'])}"
    assert any(p["in"] == "header" and p["name"] == "Idempotency-Key" and p["required"]
               for p in payments["parameters"]), "the payment request's Idempotency-Key header is not listed"


def test_every_operation_says_what_it_takes_and_gives():
    lacking = []
    for name, handler, operation in _operations():
        source = inspect.getsource(inspect.unwrap(handler))
        if any(marker in source for marker in READS_JSON) and "requestBody" not in operation:
            lacking.append(f"{name}: reads a JSON body but has no request schema")
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        if any(marker in source for marker in READS_QUERY) and not query:
            lacking.append(f"{name}: reads the query string but lists no query parameters")
        for status, answer in operation["responses"].items():
            if status.startswith("2") and status != "204" and not any(
                    "schema" in media for media in answer.get("content", {}).values()):
                lacking.append(f"{name}: answer {status} has no schema")
            if status.startswith("4"):
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                    f"{name}: error {status} is not in the shared error shape"
        writes = name.split()[0] in ("POST", "PUT", "PATCH", "DELETE")
        if writes and not {"400", "413"} <= set(operation["responses"]):
            lacking.append(f"{name}: a write that does not list 400 and 413")
        if writes and operation.get("x-roles") and not {"401", "403", "409", "422"} <= set(operation["responses"]):
            lacking.append(f"{name}: a write behind a role that does not list 401, 403, 409 and 422")
    assert lacking == [], "operations that do not say what they take or give:\n" + "\n".join(lacking)


def _generate_client(base_url: str, into: Path):
    """openapi-python-client on the served document, offline, imported from `into`."""
    import requests

    document = into / "openapi.json"
    document.write_bytes(requests.get(f"{base_url}/openapi.json", timeout=30).content)
    config = into / "generator.yaml"
    # No formatter run on the generated code; CAP XML and CSV uploads are sent as bytes.
    config.write_text("post_hooks: []\ncontent_type_overrides:\n  application/cap+xml: application/octet-stream\n"
                      "  text/csv: application/octet-stream\n", encoding="utf-8")
    offline = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    offline.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="")
    generated = subprocess.run(
        [str(Path(sys.executable).parent / "openapi-python-client"), "generate", "--path", str(document),
         "--meta", "none", "--output-path", str(into / "haven_client"), "--config", str(config)],
        capture_output=True, text=True, timeout=240, env=offline, cwd=into)
    assert generated.returncode == 0, f"openapi-python-client failed:\n{generated.stdout}\n{generated.stderr}"
    said = generated.stdout + generated.stderr
    assert "warning" not in said.lower(), f"the generator skipped parts of the API:\n{said}"
    sys.path.insert(0, str(into))
    try:
        return importlib.import_module("haven_client")
    finally:
        sys.path.remove(str(into))


@pytest.mark.slow
def test_a_client_generated_from_the_document_files_a_claim_and_asks_for_one_advance(
        api_server, pg_clean_url, haven_env, tmp_path):
    world = make_world(pg_clean_url, haven_env)
    event = world.declare_infa()
    world.user("adjuster", "ann")
    server = api_server(pg_clean_url)
    client_package = _generate_client(server.base_url, tmp_path)
    from haven_client.api.default import file_claim, request_payment
    from haven_client.models import FirstNotice, PaymentRequest

    with client_package.AuthenticatedClient(base_url=server.base_url, token=world.keys["ann"]) as client:
        notice = FirstNotice(asset_id="A00000001", loss_at=LANDFALL + timedelta(hours=2),
                             vehicle_in_water=True, description="flooded to the doors in Zhoushan")
        notice.additional_properties.clear()
        filed = file_claim.sync_detailed(client=client, body=notice)
        assert filed.status_code == 201, f"filing through the generated client: {filed.status_code} {filed.content!r}"
        claim = filed.parsed
        assert claim.cat_code == event.code, f"the claim is not in the green channel of {event.code}: {claim.cat_code}"

        patched = client.get_httpx_client().patch(f"/v1/claims/{claim.id}", json={"estimate": "20000.00"})
        assert patched.status_code == 200, f"setting the estimate: {patched.text}"

        ask = PaymentRequest(amount="5000.00", reason="advance while the car is towed")
        first = request_payment.sync_detailed(claim.id, client=client, body=ask, idempotency_key="tow-advance-1")
        again = request_payment.sync_detailed(claim.id, client=client, body=ask, idempotency_key="tow-advance-1")

    assert first.status_code == 201, f"the payment request: {first.status_code} {first.content!r}"
    payment = first.parsed
    assert str(payment.state) == "approved", f"5,000 is within an adjuster's authority, but the state is {payment.state}"
    assert Decimal(str(payment.amount)) == Decimal("5000.00"), f"the payment's amount is {payment.amount}"
    assert again.status_code in (200, 201) and again.parsed.id == payment.id, \
        f"a retried request with the same Idempotency-Key made another payment: {again.status_code} {again.content!r}"

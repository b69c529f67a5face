"""Health, metrics, OpenAPI, JSON errors, body limits, and bearer-key auth over real HTTP."""

from tests.support import haven, make_user, subprocess_env


def test_healthz_reports_database_and_queue(api_server, db_url):
    api = api_server(db_url)
    response = api.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["database"]["ok"] and body["queue"] == {"ok": True, "mode": "redis"}


def test_healthz_is_503_when_the_queue_is_down(api_server, sqlite_url):
    api = api_server(sqlite_url, HAVEN_REDIS_URL="redis://127.0.0.1:1/0")
    response = api.get("/healthz")
    assert response.status_code == 503
    assert response.json()["queue"]["ok"] is False


def test_cli_key_authorises_its_role_only(api_server, sqlite_url):
    api = api_server(sqlite_url)
    created = haven("users", "create", "--role", "adjuster", "--name", "a",
                    env=subprocess_env(HAVEN_DATABASE_URL=sqlite_url), check=True)
    key = created.stdout.strip()
    assert key.startswith("hv_") and "API key" in created.stderr

    adjuster = api.as_user(key)
    assert adjuster.get("/v1/me").json()["role"] == "adjuster"
    forbidden = adjuster.get("/v1/users")
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    for anonymous in (api, api.as_user("hv_adj_not-a-real-key")):
        response = anonymous.get("/v1/me")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
    admin = api.as_user(make_user(sqlite_url, "admin"))
    assert [u["role"] for u in admin.get("/v1/users").json()["users"]] == ["adjuster", "admin"]


def test_errors_are_json_and_oversized_bodies_get_413(api_server, sqlite_url):
    api = api_server(sqlite_url, HAVEN_MAX_BODY_BYTES=1024)
    missing = api.get("/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    admin = api.as_user(make_user(sqlite_url, "admin"))
    too_big = admin.post("/v1/users", data=b"x" * 4096, headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "body_too_large"
    not_json = admin.post("/v1/users", data=b"{oops", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]["message"]
    no_role = admin.post("/v1/users", json={"name": "x"})
    assert no_role.status_code == 400 and no_role.json()["error"]["field"] == "role"
    created = admin.post("/v1/users", json={"role": "dispatcher", "name": "Dee"})
    assert created.status_code == 201
    assert api.as_user(created.json()["api_key"]).get("/v1/me").json()["role"] == "dispatcher"


def test_openapi_lists_every_route_and_metrics_are_prometheus_text(api_server, sqlite_url):
    api = api_server(sqlite_url)
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/healthz", "/metrics", "/openapi.json", "/v1/me", "/v1/users"} <= set(spec["paths"])
    assert spec["paths"]["/v1/users"]["get"]["x-roles"] == ["admin"]
    api.get("/healthz")
    metrics = api.get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert 'haven_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


def test_the_console_gives_customers_the_configured_hotline(api_server, sqlite_url):
    api = api_server(sqlite_url, HAVEN_HOTLINE="+86 571 9555 0000")
    dispatcher = api.as_user(make_user(sqlite_url, "dispatcher"))
    assert dispatcher.get("/v1/console/me").json()["hotline"] == "+86 571 9555 0000"

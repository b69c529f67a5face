"""Typed requests and responses for route handlers, recorded on the handler for /openapi.json.

    @routes.post("/v1/claims/{id}/payments")
    @requires("adjuster")
    @header("Idempotency-Key", ClientKey, required=True)
    @body(PaymentRequest)
    @responds(PaymentView, status=201)
    async def request_payment(request, body: PaymentRequest, idempotency_key: str): ...

`body` reads the JSON body with numbers as Decimal (no amount ever passes through a binary float)
and parses it into the model; `query` does the same for the query string; `header` for one header.
Each hands the parsed value to the handler as a keyword argument. A value that does not fit is a 400
in the usual error shape, naming the field. `responds` only records. What each records
(`haven_body`, `haven_query`, `haven_headers`, `haven_responses`) is what web/openapi.py can read,
as `requires` records `haven_roles`.
"""

from __future__ import annotations

import functools
import json
import re
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from greenchannel.inputs import refusal
from web.common import refuse_unstorable_text
from web.errors import ApiError, bad_request


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _json_integer(digits: str) -> int | Decimal:
    # Python refuses to convert integers past 4,300 digits; as a Decimal the field's own check names it.
    return int(digits) if len(digits) <= 1000 else Decimal(digits)


async def decimal_body(request: web.Request) -> dict:
    """The JSON object in the body with numbers read as Decimal; an empty body is {}."""
    try:
        raw = await request.text()
        data = json.loads(raw or "{}", parse_float=Decimal, parse_int=_json_integer, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise bad_request("request body is not UTF-8 text") from None
    except RecursionError:
        raise bad_request("request body nests too deeply") from None
    except ValueError as exc:  # also JSONDecodeError, and an integer longer than Python converts
        raise bad_request(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object")
    refuse_unstorable_text(data)
    return data


def _refused(exc: ValidationError, code: str) -> ApiError:
    problem = refusal(exc)
    return ApiError(400, code, problem.message, problem.field)


def _record(handler, name: str, value) -> None:
    setattr(handler, name, value)


def _wrap(handler, parse):
    @functools.wraps(handler)
    async def wrapper(request: web.Request, **parsed):
        return await handler(request, **parsed, **await parse(request))

    return wrapper


def body(model: type[BaseModel], *, arg: str = "body"):
    """Parse the JSON body into `model`; the handler gets it as `body` (or `arg`)."""

    def decorate(handler):
        async def parse(request):
            try:
                return {arg: model.model_validate(await decimal_body(request))}
            except ValidationError as exc:
                raise _refused(exc, "malformed") from None

        wrapper = _wrap(handler, parse)
        _record(wrapper, "haven_body", model)
        return wrapper

    return decorate


def query(model: type[BaseModel], *, arg: str = "query"):
    """Parse the query string into `model` (the last value of a repeated parameter counts)."""

    def decorate(handler):
        async def parse(request):
            try:
                return {arg: model.model_validate(dict(request.query))}
            except ValidationError as exc:
                raise _refused(exc, "invalid") from None

        wrapper = _wrap(handler, parse)
        _record(wrapper, "haven_query", model)
        return wrapper

    return decorate


def _argument_name(header_name: str) -> str:
    return re.sub(r"\W", "_", header_name).lower()


def header(name: str, annotation: Any, *, required: bool = False, description: str | None = None):
    """Parse one header with a pydantic type; the handler gets it as e.g. `idempotency_key` (None if absent
    and not required)."""
    adapter = TypeAdapter(annotation)
    arg = _argument_name(name)

    def decorate(handler):
        async def parse(request):
            raw = request.headers.get(name)
            if raw is None and not required:
                return {arg: None}
            try:
                return {arg: adapter.validate_python(raw)}
            except ValidationError as exc:
                problem = refusal(exc)
                reason = problem.message.removeprefix(f"{problem.field} ") if problem.field else problem.message
                raise ApiError(400, "malformed", f"{name} {reason}", name) from None

        wrapper = _wrap(handler, parse)
        headers = dict(getattr(handler, "haven_headers", {}))
        headers[name] = {"schema": adapter.json_schema(), "required": required, "description": description}
        _record(wrapper, "haven_headers", headers)
        return wrapper

    return decorate


def responds(model: type[BaseModel] | None, status: int = 200, description: str | None = None):
    """Record that the handler answers `status` with a body described by `model` (None: no body)."""

    def decorate(handler):
        responses = dict(getattr(handler, "haven_responses", {}))
        responses[status] = (model, description)
        handler.haven_responses = responses
        return handler

    return decorate

"""JSON errors, the one shape every route answers with (docs/architecture.md): {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import json

from aiohttp import web


class ApiError(Exception):
    """Raise from a handler (or a business function via a domain exception mapped to it)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def bad_request(message: str, field: str | None = None, code: str = "invalid") -> ApiError:
    return ApiError(400, code, message, field)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def conflict(message: str, code: str = "conflict") -> ApiError:
    return ApiError(409, code, message)


def unprocessable(message: str, field: str | None = None, code: str = "unprocessable") -> ApiError:
    return ApiError(422, code, message, field)

"""/openapi.json, generated from the live route table so it can never drift from the routes."""

from __future__ import annotations

import inspect
import re

from aiohttp import web

PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def build_openapi(app: web.Application) -> dict:
    paths: dict[str, dict] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method in ("HEAD", "*") or path.startswith("/static"):
            continue
        handler = route.handler
        doc = inspect.getdoc(handler) or ""
        summary, _, description = doc.partition("\n")
        operation: dict = {"summary": summary.strip() or handler.__name__, "responses": {"200": {"description": "OK"}}}
        if description.strip():
            operation["description"] = description.strip()
        roles = getattr(handler, "haven_roles", None)
        if roles:
            operation["security"] = [{"bearer": []}]
            operation["x-roles"] = list(roles)
            operation["responses"].update({"401": {"description": "missing or bad key"},
                                           "403": {"description": "wrong role"}})
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in PARAM.findall(path)]
        if params:
            operation["parameters"] = params
        paths.setdefault(PARAM.sub(r"{\1}", path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Haven API", "version": "0.1.0",
                 "description": "Disaster-response API: warnings out, green-channel claims in."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Error": {"type": "object", "properties": {"error": {
                           "type": "object", "properties": {"code": {"type": "string"},
                                                            "message": {"type": "string"},
                                                            "field": {"type": ["string", "null"]}}}}}}},
        "paths": dict(sorted(paths.items())),
    }

"""/openapi.json, generated from the live route table so it can never drift from the routes."""

from __future__ import annotations

import inspect
import re

from aiohttp import web

PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


class _Schemas:
    """Pydantic models as components/schemas, referenced by name (web/typed.py records them on handlers)."""

    def __init__(self):
        self.found: dict[str, dict] = {}

    def ref(self, model, mode: str = "validation") -> dict:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        for name, sub in schema.pop("$defs", {}).items():
            self.found.setdefault(name, sub)
        self.found.setdefault(model.__name__, schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _typed_parts(handler, operation: dict, schemas: _Schemas) -> None:
    """requestBody, query and header parameters, and responses from what web/typed.py recorded."""
    params = operation.setdefault("parameters", [])
    query = getattr(handler, "haven_query", None)
    if query is not None:
        schema = query.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.found.setdefault(name, sub)
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []),
                           "schema": prop})
    for name, header in getattr(handler, "haven_headers", {}).items():
        params.append({"name": name, "in": "header", "required": header["required"], "schema": header["schema"],
                       **({"description": header["description"]} if header["description"] else {})})
    if not params:
        operation.pop("parameters")
    body = getattr(handler, "haven_body", None)
    if body is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": schemas.ref(body)}}}
    if body is not None or query is not None or getattr(handler, "haven_headers", None):
        operation["responses"]["400"] = {"description": "malformed: the error names the field", "content": ERROR}
    answers = getattr(handler, "haven_responses", None)
    if answers:
        operation["responses"].pop("200", None)
        for status, (model, description) in sorted(answers.items()):
            answer = {"description": description or ("Created" if status == 201 else "OK")}
            if model is not None:
                answer["content"] = {"application/json": {"schema": schemas.ref(model, "serialization")}}
            operation["responses"][str(status)] = answer


def build_openapi(app: web.Application) -> dict:
    paths: dict[str, dict] = {}
    schemas = _Schemas()
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
            operation["responses"].update({"401": {"description": "missing or bad key", "content": ERROR},
                                           "403": {"description": "wrong role", "content": ERROR}})
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in PARAM.findall(path)]
        if params:
            operation["parameters"] = params
            operation["responses"]["404"] = {"description": "no such thing", "content": ERROR}
        _typed_parts(handler, operation, schemas)
        paths.setdefault(PARAM.sub(r"{\1}", path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Haven API", "version": "0.1.0",
                 "description": "Disaster-response API: warnings out, green-channel claims in."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Error": {"type": "object", "properties": {"error": {
                           "type": "object", "properties": {"code": {"type": "string"},
                                                            "message": {"type": "string"},
                                                            "field": {"type": ["string", "null"]}}}}},
                                  **dict(sorted(schemas.found.items()))}},
        "paths": dict(sorted(paths.items())),
    }

"""/openapi.json, generated from the live route table so it can never drift from the routes.

Routes record what they take and give on the handler: web/typed.py (`body`, `query`, `header`,
`responds`) for JSON, `requires` for roles (listed as `x-roles`), and the recorders below for what is not
JSON (CAP XML, uploads, pages, text) or read from the query string by hand. Error answers are added by
what an operation can meet: 400 for anything it parses, 413 for a write's body, and behind a role 401/403,
404 for a path parameter and 409/422 for a write; `refuses` adds the rest. All in the shared error shape.
"""

from __future__ import annotations

import inspect
import re

from aiohttp import web

PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
WRITES = ("POST", "PUT", "PATCH", "DELETE")
SESSION_COOKIE = "haven_session"

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every refusal: a stable code, a message for people, and the field it is about.",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string", "examples": ["malformed", "not_found", "conflict"]},
                       "message": {"type": "string"},
                       "field": {"type": ["string", "null"],
                                 "description": "the request field, header or parameter at fault"}}}},
}

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "A machine client's API key (`haven users create` prints it once)."},
    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                "description": "A person's session after POST /v1/auth/login or /v1/auth/customer/verify "
                               "(HttpOnly, SameSite=Lax). Every write made with it also carries "
                               "X-CSRF-Token (the csrf scheme), whose value GET /v1/me returns."},
    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
             "description": "The session's CSRF token from GET /v1/me; required on cookie-authenticated "
                            "writes, not with a Bearer key."},
}

ERRORS = {
    400: "malformed: the error names the field",
    401: "missing or bad key or session",
    403: "wrong role",
    404: "no such thing",
    409: "the thing's state does not allow this, or someone changed it first",
    413: "request body too large",
    422: "well formed but breaks a rule; the error names the field",
    429: "too many attempts; Retry-After says when to try again",
}


def _record(handler, name: str, key, value) -> None:
    records = dict(getattr(handler, name, {}))
    records[key] = value
    setattr(handler, name, records)


def takes(media_type: str, schema: dict | None = None, description: str | None = None):
    """Record a request body that is not a JSON model (CAP XML, a CSV upload, a form)."""

    def decorate(handler):
        _record(handler, "haven_request_content", media_type,
                {"schema": schema or {"type": "string"}, "description": description})
        return handler

    return decorate


def gives(media_type: str, status: int = 200, schema: dict | None = None, description: str | None = None):
    """Record an answer that is not a JSON model (a page, Prometheus text, an event stream)."""

    def decorate(handler):
        _record(handler, "haven_media", status, (media_type, schema or {"type": "string"}, description))
        return handler

    return decorate


def refuses(*statuses: int):
    """Record refusals an operation gives beyond those its shape implies (e.g. a sign-in's 401 and 429)."""

    def decorate(handler):
        for status in statuses:
            _record(handler, "haven_refusals", status, ERRORS[status])
        return handler

    return decorate


def query_parameter(name: str, schema: dict, *, required: bool = False, description: str | None = None):
    """Record a query parameter a handler reads itself (without web/typed.py's `query`)."""

    def decorate(handler):
        _record(handler, "haven_query_parameters", name,
                {"name": name, "in": "query", "required": required, "schema": schema,
                 **({"description": description} if description else {})})
        return handler

    return decorate


def _allows_null(schema: dict) -> bool:
    kinds = schema.get("type")
    return (kinds == "null" or (isinstance(kinds, list) and "null" in kinds)
            or any(_allows_null(option) for option in schema.get("anyOf", []) + schema.get("oneOf", []))
            or ("type" not in schema and "$ref" not in schema and "anyOf" not in schema))


def _without_impossible_defaults(node):
    """Drop `default: null` where the schema allows no null (a field that may only be left out): the
    document must stay valid, and a generated client must not send a null the API refuses."""
    if isinstance(node, dict):
        if "default" in node and node["default"] is None and not _allows_null(node):
            node = {key: value for key, value in node.items() if key != "default"}
        return {key: _without_impossible_defaults(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_impossible_defaults(value) for value in node]
    return node


class _Schemas:
    """Pydantic models as components/schemas, referenced by name (web/typed.py records them on handlers)."""

    def __init__(self):
        self.found: dict[str, dict] = {}

    def ref(self, model, mode: str = "validation") -> dict:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        schema = _without_impossible_defaults(schema)
        for name, sub in schema.pop("$defs", {}).items():
            self.found.setdefault(name, sub)
        self.found.setdefault(model.__name__, schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(handler, path_names: list[str], schemas: _Schemas) -> list[dict]:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in path_names]
    query = getattr(handler, "haven_query", None)
    if query is not None:
        schema = _without_impossible_defaults(query.model_json_schema(ref_template="#/components/schemas/{model}"))
        for name, sub in schema.pop("$defs", {}).items():
            schemas.found.setdefault(name, sub)
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []),
                           "schema": prop, **({"description": prop["description"]} if "description" in prop
                                              else {})})
    params.extend(getattr(handler, "haven_query_parameters", {}).values())
    for name, header in getattr(handler, "haven_headers", {}).items():
        params.append({"name": name, "in": "header", "required": header["required"], "schema": header["schema"],
                       **({"description": header["description"]} if header["description"] else {})})
    return params


def _request_body(handler, schemas: _Schemas) -> dict | None:
    content = {}
    model = getattr(handler, "haven_body", None)
    if model is not None:
        content["application/json"] = {"schema": schemas.ref(model)}
    descriptions = []
    for media_type, part in getattr(handler, "haven_request_content", {}).items():
        content[media_type] = {"schema": part["schema"]}
        if part["description"]:
            descriptions.append(part["description"])
    if not content:
        return None
    return {"required": True, "content": content, **({"description": " ".join(descriptions)} if descriptions
                                                      else {})}


def _success_responses(handler, schemas: _Schemas) -> dict:
    responses: dict[str, dict] = {}
    for status, (model, description) in getattr(handler, "haven_responses", {}).items():
        answer = {"description": description or ("Created" if status == 201 else "OK")}
        if model is not None:
            answer["content"] = {"application/json": {"schema": schemas.ref(model, "serialization")}}
        responses[str(status)] = answer
    for status, (media_type, schema, description) in getattr(handler, "haven_media", {}).items():
        answer = responses.setdefault(str(status), {"description": description or "OK"})
        answer.setdefault("content", {})[media_type] = {"schema": schema}
    return responses or {"200": {"description": "OK"}}


def _error_responses(handler, operation: dict, method: str, roles) -> dict:
    statuses = set(getattr(handler, "haven_refusals", {}))
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(400)
    if method in WRITES:
        statuses |= {400, 413}
    if roles:
        # Behind a role the request reaches the domain rules: an unknown id, a state that does not allow
        # it, a broken rule. Public routes (sign-in, signed links, webhooks) answer for themselves.
        statuses |= {401, 403}
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            statuses.add(404)
        if method in WRITES:
            statuses |= {409, 422}
    return {str(status): {"description": ERRORS[status], "content": ERROR} for status in sorted(statuses)}


def _security(method: str, roles) -> list[dict]:
    if not roles:
        return []
    cookie = {"session": [], "csrf": []} if method in WRITES else {"session": []}
    return [{"bearer": []}, cookie]


def build_openapi(app: web.Application) -> dict:
    paths: dict[str, dict] = {}
    schemas = _Schemas()
    operation_ids: set[str] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method in ("HEAD", "*") or path.startswith("/static"):
            continue
        handler = route.handler
        doc = inspect.getdoc(handler) or ""
        summary, _, description = doc.partition("\n")
        roles = getattr(handler, "haven_roles", None)
        operation: dict = {"summary": summary.strip() or handler.__name__}
        operation_id = handler.__name__
        if operation_id in operation_ids:
            operation_id = f"{route.method.lower()}_{operation_id}"
        operation_ids.add(operation_id)
        operation["operationId"] = operation_id
        if description.strip():
            operation["description"] = description.strip()
        operation["security"] = _security(route.method, roles)
        if roles:
            operation["x-roles"] = list(roles)
        params = _parameters(handler, PARAM.findall(path), schemas)
        if params:
            operation["parameters"] = params
        request_body = _request_body(handler, schemas)
        if request_body:
            operation["requestBody"] = request_body
        operation["responses"] = {**_success_responses(handler, schemas),
                                  **_error_responses(handler, operation, route.method, roles)}
        paths.setdefault(PARAM.sub(r"{\1}", path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Haven API", "version": "0.1.0",
                 "description": "Disaster-response API: warnings out, green-channel claims in. Browse it at "
                                "/api; errors are always `{\"error\": {\"code\", \"message\", \"field\"}}`."},
        "components": {"securitySchemes": SECURITY_SCHEMES,
                       "schemas": {"Error": ERROR_SCHEMA, **dict(sorted(schemas.found.items()))}},
        "paths": dict(sorted(paths.items())),
    }

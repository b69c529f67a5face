"""Routes: the insured book (docs/architecture.md).

The body is the file itself (CSV, GeoJSON, GeoParquet or GeoPackage, by Content-Type or ?format=).
The answer lists refused rows with their row number and reason; 200 when something loaded, 422
when nothing could be. Large books go through `haven assets import` (no body size limit).
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

from aiohttp import web

from web.common import in_thread, json_response, principal_of, requires
from web.errors import bad_request
from web.openapi import gives, query_parameter, takes

routes = web.RouteTableDef()

CONTENT_TYPES = {"text/csv": "csv", "application/csv": "csv", "application/geo+json": "geojson",
                 "application/json": "geojson", "application/vnd.apache.parquet": "parquet",
                 "application/x-parquet": "parquet", "application/geopackage+sqlite3": "gpkg"}
MAX_REJECTED_SHOWN = 1000


def _format(request: web.Request) -> str:
    declared = request.query.get("format") or CONTENT_TYPES.get(request.content_type)
    if declared not in ("csv", "geojson", "parquet", "gpkg"):
        raise bad_request("say the file format: Content-Type text/csv, application/geo+json, "
                          "application/vnd.apache.parquet or application/geopackage+sqlite3, or ?format=",
                          field="format")
    return declared


def _import_file(kind: str, body: bytes, file_format: str, crs: str, principal) -> dict:
    from book import service as book_service
    from geo.crs import to_wgs84
    from geo.pointfiles import read_csv_text, read_table
    from store.audit import record
    from store.db import session_scope

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload.{file_format}"
        path.write_bytes(body)
        if kind == "customers":
            table = read_csv_text(path.read_text(encoding="utf-8-sig"), ("customer_id", "phone"))
            report = book_service.import_customers(session_scope, table.columns, table.problems)
        else:
            table = read_table(path, ("asset_id", "customer_id", "lon", "lat"), file_format)
            report = book_service.import_assets(session_scope, table.columns, table.problems, partial(to_wgs84, system=crs))
    with session_scope() as session:
        record(session, kind, "import", "import", actor_id=principal.user_id, actor_role=principal.role,
               data={"format": file_format, "received": report.received, "loaded": report.loaded,
                     "rejected": len(report.rejected)})
    return report.to_json(MAX_REJECTED_SHOWN)


async def _handle(request: web.Request, kind: str, file_format: str, crs: str = "wgs84") -> web.Response:
    from geo.pointfiles import PointFileError

    body = await request.read()
    if not body:
        raise bad_request("the request body is empty: send the file itself", field="body")
    try:
        result = await in_thread(_import_file, kind, body, file_format, crs, principal_of(request))
    except (PointFileError, UnicodeDecodeError) as exc:
        raise bad_request(str(exc), field="body") from None
    return json_response(result, status=200 if result["loaded"] or not result["received"] else 422)


@routes.post("/v1/assets/import")
@requires("manager")
@query_parameter("crs", {"type": "string", "enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84"})
@query_parameter("format", {"type": "string", "enum": ["csv", "geojson", "parquet", "gpkg"]},
                 description="the file format, when the Content-Type does not say it")
@takes("text/csv", description="CSV, GeoJSON, GeoParquet or GeoPackage, by Content-Type or ?format=")
@takes("application/geo+json")
@gives("application/json", schema={"type": "object", "additionalProperties": True}, description="how many were received and loaded")
async def import_assets(request: web.Request) -> web.Response:
    """Import insured assets (upsert by asset_id); refused rows are listed with row number and reason."""
    crs = request.query.get("crs", "wgs84")
    if crs not in ("wgs84", "gcj02", "bd09"):
        raise bad_request("crs must be wgs84, gcj02 or bd09", field="crs")
    return await _handle(request, "assets", _format(request), crs)


@routes.post("/v1/customers/import")
@requires("manager")
@query_parameter("format", {"type": "string", "enum": ["csv", "geojson", "parquet", "gpkg"]})
@takes("text/csv", description="customer_id,name,phone,locale,time_zone,...")
@gives("application/json", schema={"type": "object", "additionalProperties": True}, description="how many were received and loaded")
async def import_customers(request: web.Request) -> web.Response:
    """Import customers from CSV (upsert by customer_id; phones normalised to E.164)."""
    if _format(request) != "csv":
        raise bad_request("customers are imported from CSV", field="format")
    return await _handle(request, "customers", "csv")

"""Routes: what only a signed-in customer's page needs (their assets, the hotline and upload limits,
complaints), and the supervisors' list of complaints with their answer clocks.

Adapters only: parse, call greenchannel.complaints, answer JSON. Claims, documents and rescue jobs are
filed through the same routes staff and machine clients use.
"""

from __future__ import annotations

from aiohttp import web

from config import get_settings
from greenchannel import complaints
from greenchannel.documents import SIGNATURES
from web.common import json_response, principal_of, requires
from web.routes.greenchannel import call
from web.typed import body, query, responds

routes = web.RouteTableDef()


@routes.get("/v1/customer/assets")
@requires("customer")
@responds(complaints.AssetList)
async def my_assets(request: web.Request) -> web.Response:
    """The signed-in customer's own insured assets (kind, address, location), to report a loss on."""
    return json_response(await call(complaints.customer_assets, principal_of(request)))


@routes.get("/v1/customer/settings")
@requires("customer")
@responds(complaints.CustomerSettings)
async def customer_settings(request: web.Request) -> web.Response:
    """The hotline to call and what an upload may be: its largest size in bytes and its content types."""
    settings = get_settings()
    types = sorted({content_type for _, _, content_type in SIGNATURES})
    return json_response({"hotline": settings.hotline, "upload_limit_bytes": settings.max_body_bytes,
                          "upload_types": types})


@routes.post("/v1/customer/complaints")
@requires("customer")
@body(complaints.ComplaintRequest)
@responds(complaints.ComplaintView, status=201)
async def complain(request: web.Request, body: complaints.ComplaintRequest) -> web.Response:
    """Complain (text, optional claim_id): recorded with a 24-hour answer clock for supervisors."""
    return json_response(await call(complaints.file_complaint, principal_of(request), body), status=201)


@routes.get("/v1/complaints")
@requires("supervisor", "manager")
@query(complaints.ComplaintQuery)
@responds(complaints.ComplaintList)
async def list_complaints(request: web.Request, query: complaints.ComplaintQuery) -> web.Response:
    """Customers' complaints, the soonest answer clock first (?open=false to include answered ones)."""
    return json_response(await call(complaints.list_complaints, query))

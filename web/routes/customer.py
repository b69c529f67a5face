"""Routes: what only a signed-in customer's page needs (their assets, the hotline and upload limits,
complaints and their answers), and the supervisors' list of complaints with their answer clocks and the
answer they give.

Adapters only: parse, call greenchannel.complaints, answer JSON. Claims, documents and rescue jobs are
filed through the same routes staff and machine clients use.
"""

from __future__ import annotations

from aiohttp import web

from config import get_settings
from greenchannel import complaints
from greenchannel.documents import SIGNATURES
from web.common import json_response, principal_of, requires
from web.routes.greenchannel import call, path_id
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


@routes.get("/v1/customer/complaints")
@requires("customer")
@responds(complaints.ComplaintList)
async def my_complaints(request: web.Request) -> web.Response:
    """The signed-in customer's own complaints, open ones first, each with its answer once given."""
    return json_response(await call(complaints.my_complaints, principal_of(request)))


@routes.get("/v1/complaints")
@requires(*complaints.ANSWERING_ROLES)
@query(complaints.ComplaintQuery)
@responds(complaints.StaffComplaintList)
async def list_complaints(request: web.Request, query: complaints.ComplaintQuery) -> web.Response:
    """Customers' complaints, open ones first, the soonest answer clock first (?open=false to include
    answered ones); the customer's phone masked, the claim named by its stage and what was insured."""
    return json_response(await call(complaints.list_complaints, principal_of(request), query))


@routes.post("/v1/complaints/{id}/answer")
@requires(*complaints.ANSWERING_ROLES)
@body(complaints.AnswerRequest)
@responds(complaints.AnsweredComplaint)
async def answer_complaint(request: web.Request, body: complaints.AnswerRequest) -> web.Response:
    """Answer a complaint once ({"answer"}); the answer goes to the customer by SMS. The same answer again
    changes nothing and sends nothing; a different one to an answered complaint is 409 already_answered."""
    return json_response(await call(complaints.answer_complaint, principal_of(request), path_id(request), body))

"""Route: the state vocabulary (store/models/vocabulary.py), read by the console's js/states.js.

Public like /openapi.json, which spells the same states as enums: the console's modules load it before
anyone has signed in.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from store.models.vocabulary import state_vocabulary
from web.common import json_response, public
from web.typed import responds

routes = web.RouteTableDef()
VOCABULARY = state_vocabulary()  # fixed for the life of the process: the enums are code


class Vocabulary(BaseModel):
    enums: dict[str, dict[str, str]]
    sets: dict[str, list[str]]


@routes.get("/v1/vocabulary")
@public
@responds(Vocabulary)
async def vocabulary(request: web.Request) -> web.Response:
    """Every state set by name: `enums` (each StrEnum, member name to value) and `sets` (named groups of
    states such as STAGES or NOT_DELIVERED)."""
    return json_response(VOCABULARY)

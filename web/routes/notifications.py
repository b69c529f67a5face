"""Routes: notifications (see DESIGN.md, Interfaces: HTTP)."""

from aiohttp import web

routes = web.RouteTableDef()

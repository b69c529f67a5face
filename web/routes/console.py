"""Routes: console (see DESIGN.md, Interfaces: HTTP)."""

from aiohttp import web

routes = web.RouteTableDef()

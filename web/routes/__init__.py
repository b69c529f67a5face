"""One module per part of the API; web.app.ROUTE_MODULES lists them."""

"""Bounds on what an area may be, shared by the parsers (which refuse) and geo.areas (which draws).

Kept free of shapely and pyproj so that parsing a message does not load them.
"""

# No agency draws a warning circle wider than a few thousand km. Past a quarter of the globe a
# "circle" is a typing error (or an attack), and past half of it its ring turns inside out.
MAX_CIRCLE_RADIUS_KM = 3000.0

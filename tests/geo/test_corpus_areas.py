"""Real CAP areas land on the right continent: each area's centroid lies in the issuer's country."""

from __future__ import annotations

import pytest
import shapely
from country_bounding_boxes import country_subunits_by_iso_code

from alerts.reading.parse import parse_message
from geo.areas import alert_geometry
from geo.gazetteer import load_gazetteer
from tests.support import FIXTURES

COUNTRY_OF_PREFIX = {"au": "AU", "ca": "CA", "ie": "IE", "is": "IS", "ph": "PH", "tg": "TG", "us": "US", "mx": "MX"}
WITH_SHAPES = sorted(p for p in (FIXTURES / "geo").glob("*.xml") if "geocode-only" not in p.name
                     and "ugc-only" not in p.name)


# USGS reports earthquakes worldwide: this one is at sea, 298 km NNE of Neiafu, Tonga (its areaDesc).
COUNTRY_OF_FILE = {"us_usgs_cap11_earthquake_circle-radius0.xml": ("TO", 3.0)}


def in_country(point, iso2: str, margin_deg: float = 0.0) -> bool:
    return any(shapely.box(*c.bbox).buffer(margin_deg).intersects(point) for c in country_subunits_by_iso_code(iso2))


@pytest.mark.parametrize("path", WITH_SHAPES, ids=lambda p: p.name)
def test_area_centroid_is_in_the_issuers_country(path):
    message = parse_message(path.read_bytes())
    assert message.alerts, f"{path.name} parsed to no alert"
    country, margin = COUNTRY_OF_FILE.get(path.name, (COUNTRY_OF_PREFIX[path.name.split("_")[0]], 0.0))
    for parsed in message.alerts:
        area = alert_geometry(parsed.alert, load_gazetteer())
        assert not area.is_empty, f"{path.name}: empty area ({area.notes})"
        assert in_country(area.geometry.centroid, country, margin), (path.name, area.geometry.centroid.wkt)


def test_geocode_only_alert_reports_its_codes_instead_of_crashing():
    path = FIXTURES / "geo" / "us_wcatwc_tsunami-warning_update_3resources_ugc-only.xml"
    parsed = parse_message(path.read_bytes()).alerts[0]
    area = alert_geometry(parsed.alert, load_gazetteer())
    assert area.is_empty and area.unknown_geocodes == ["UGC:AKZ185", "UGC:AKZ187"]

"""Tasks for the match queue: alert area x insured assets (geo issue fills this in)."""

from workers.app import app


@app.task(name="haven.match.match_alert")
def match_alert(alert_id: int) -> dict:
    """Intersect a stored alert's area with the insured book and record the affected assets."""
    raise NotImplementedError("matching lands with the geo issue")


def after_match(alert_id: int, asset_count: int) -> None:
    """What follows a match: warn the customers (notify) and maybe propose a CAT event (green channel).

    The warnings-out and green-channel work each add their call here; keep it a flat list of steps.
    """

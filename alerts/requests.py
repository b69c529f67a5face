"""What callers ask of the warnings, as pydantic models: list queries and request bodies.

The web layer parses into them (web/typed.py, a refusal is a 400 naming the field) and /openapi.json
describes them from the same models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from store.models.alerts import FeedKind, ManualWarningState


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _blank_parameters_are_absent(cls, data):
        # ?limit=&cursor= is what a form sends for "no value"
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not (isinstance(value, str) and not value.strip())}
        return data


def _blank_is_absent(value):
    return None if isinstance(value, str) and not value.strip() else value


def _no_nul(value):
    # PostgreSQL text cannot hold NUL: refused here with the field's name, not as a database error.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _ascii_whole(value):
    # int() would also take "¹" or "٣"; a query string's number is ASCII digits.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number")
    return value


QueryText = Annotated[str | None, BeforeValidator(_blank_is_absent), BeforeValidator(_no_nul)]
Text = Annotated[str, BeforeValidator(_no_nul)]


def QueryWhole(minimum: int, maximum: int):  # noqa: N802 - used as a type
    return Annotated[int, BeforeValidator(_ascii_whole), Field(ge=minimum, le=maximum)]


class AlertListQuery(Request):
    active: bool = Field(False, description="true keeps each active chain's current, unexpired message")
    include: Annotated[QueryText, Field(max_length=100, description="geometry: areas with their polygons "
                                                                    "and circles (then at most 25 a page)")] = None
    limit: QueryWhole(1, 200) | None = Field(None, description="at most 200 (25 with geometry); 50 when absent")
    cursor: Annotated[QueryText, Field(max_length=100, description="next_cursor of the previous page")] = None
    status: Annotated[QueryText, Field(max_length=16, description="a CAP status, e.g. Actual or Test")] = None


class QuarantineQuery(Request):
    limit: QueryWhole(1, 1000) = 100


class OutboxQuery(Request):
    channel: Annotated[Literal["sms", "push"] | None, BeforeValidator(_blank_is_absent)] = None
    alert_id: QueryWhole(1, 2_147_483_647) | None = None
    customer_id: Annotated[QueryText, Field(max_length=64)] = None
    limit: QueryWhole(1, 2_147_483_647) = Field(50, description="at most 500 are answered")
    before_id: QueryWhole(1, 2_147_483_647) | None = None
    phone: Annotated[QueryText, Field(max_length=40, description="digits the number contains (3 to 20; +, "
                                                                 "spaces, dashes and brackets are ignored)")] = None


def _interval(value):
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError('must be a number of seconds or a text such as "60s" or "5m"')
    return value


# Read by the rules (feedstate.add_feed), which refuse an unreadable text with a 422 naming the field.
Interval = Annotated[Any, BeforeValidator(_interval), WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}]})]


class FeedRegistration(Request):
    """A feed to poll."""

    url: Text = Field(min_length=1, max_length=2000, pattern=r"\S")
    # Checked by the rules (a 422 naming the kinds), described here as the enum it is.
    kind: str = Field(min_length=1, pattern=r"\S", json_schema_extra={"enum": [str(k) for k in FeedKind]})
    every: Interval = Field(60, description='how often to poll: seconds, or e.g. "60s", "5m"')
    enabled: bool = True
    require_signature: bool = False
    admin_code: Annotated[Text, Field(max_length=16)] | None = None
    name: Annotated[Text, Field(max_length=200)] | None = None


class WarnedQuery(Request):
    q: Annotated[QueryText, Field(max_length=100, description="part of a customer's name, or digits of the "
                                                                "phone number (3 to 20)")] = None
    limit: QueryWhole(1, 200) = Field(50, description="at most 200")
    offset: QueryWhole(0, 10_000_000) = 0


class AlertSubmitQuery(Request):
    confirm: bool = Field(False, description="an API-key client's explicit confirmation: a warning whose reach "
                                             "needs no second approver is sent at once (a signed-in person "
                                             "confirms the preview with POST /v1/manual-warnings/{id}/confirm)")


class ManualWarningQuery(Request):
    state: Annotated[ManualWarningState | None, BeforeValidator(_blank_is_absent)] = None
    limit: QueryWhole(1, 200) = Field(50, description="at most 200")


class ManualRejection(Request):
    """Why a held warning is not sent (required, audited)."""

    reason: Text = Field(min_length=1, max_length=2000, pattern=r"\S")

"""What callers ask of the green channel, as pydantic models: request bodies and list queries.

The rules take these typed requests, never raw JSON. The web layer parses into them (web/typed.py)
and /openapi.json describes them from the same models.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from greenchannel.inputs import (
    ClientKey,
    Flag,
    FloodLevel,
    IdList,
    Location,
    NameList,
    NonEmpty,
    QueryWhole,
    RequiredText,
    Text,
    Timestamp,
    Whole,
)
from store.models.greenchannel import CatEventStatus, ClaimStage, JobState, PaymentKind, RescueNeed
from store.money import Amount


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Changes(BaseModel):
    """A PATCH: only the fields sent change, and a field this request does not know is refused."""

    model_config = ConfigDict(extra="forbid")


def _geojson_object(value):
    if value is not None and not isinstance(value, dict):
        raise ValueError("must be a GeoJSON object")
    return value


GeoJSON = Annotated[dict[str, Any] | None, BeforeValidator(_geojson_object)]


def _lenient_true(value):
    """Optional switches that default on: anything but an explicit false leaves them on."""
    return value is not False


DefaultOn = Annotated[bool, BeforeValidator(_lenient_true)]


# --- CAT events ----------------------------------------------------------------------------------

CAT_CODE = re.compile(r"^CAT-\d{4}-\d{4}-[A-Z0-9]+(-[A-Z0-9]+)*$")


def _cat_code(value):
    if value is None:
        return None
    if not isinstance(value, str) or not CAT_CODE.match(value.strip()):
        raise ValueError("must look like CAT-2021-0725-INFA (CAT-year-monthday-NAME, capitals)")
    return value.strip()


CatCode = Annotated[str, BeforeValidator(_cat_code), Field(pattern=CAT_CODE.pattern, examples=["CAT-2021-0725-INFA"])]


class DeclareCatEvent(Request):
    code: CatCode
    hazard: RequiredText(64)
    window_start: Timestamp
    window_end: Timestamp | None = None
    area: GeoJSON = Field(None, description="GeoJSON (Multi)Polygon, Feature or FeatureCollection, WGS-84")
    chain_ids: IdList = Field(None, description="alert chains whose areas to join")


class ConfirmCatEvent(Request):
    code: CatCode | None = None
    hazard: Text(64) = None
    window_start: Timestamp | None = None
    window_end: Timestamp | None = None


class CloseCatEvent(Request):
    note: Text() = None


class DismissCatEvent(Request):
    reason: RequiredText(500) = Field(description="why the proposal is turned down; kept in the audit trail")


class MergeCatEvent(Request):
    into_id: Whole(1) = Field(description="the open CAT event of the same storm")
    note: Text() = None


class CatEventQuery(Request):
    status: CatEventStatus | None = None
    area: bool | None = Field(None, description="false leaves the areas out")


# --- claims --------------------------------------------------------------------------------------

class FirstNotice(Request):
    """What a customer or staff member reports (FNOL)."""

    asset_id: RequiredText(64)
    loss_at: Timestamp
    location: Location | None = Field(None, description="where the loss is, when not at the asset")
    description: Text() = None
    person_trapped: Flag = False
    person_injured: Flag = False
    vehicle_in_water: Flag = False
    in_travel_lane: Flag = False
    cannot_drive: Flag = False
    flood_depth_level: FloodLevel = None
    estimate: Amount | None = None

    @property
    def lon(self) -> float | None:
        return self.location.lon if self.location else None

    @property
    def lat(self) -> float | None:
        return self.location.lat if self.location else None


class ClaimListQuery(Request):
    cat_code: Text(64) = None
    stage: Text(32) = None
    limit: QueryWhole(1, 1000) = 100


class ClaimChanges(Changes):
    """Staff correct the flags, flood depth or estimate, or record that no advance is needed."""

    person_trapped: Flag = False
    person_injured: Flag = False
    vehicle_in_water: Flag = False
    in_travel_lane: Flag = False
    cannot_drive: Flag = False
    flood_depth_level: FloodLevel = None
    estimate: Amount = None
    no_advance: Flag = False
    note: Text() = None


class Transition(Request):
    to: ClaimStage
    note: Text() = None
    estimate: Amount | None = None
    return_documents: NameList = Field(None, description="document kinds sent back to the customer")


class Withdrawal(Request):
    reason: Text() = None


class LeaseNext(Request):
    fast_track_only: Flag = False


def _printable(value):
    """A search is typed by a person: a NUL or another control character is not (PostgreSQL keeps no NUL)."""
    if value is not None and any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("must not hold control characters")
    return value


class QueueTab(StrEnum):
    WORKABLE = "workable"
    WAITING_ON_CUSTOMER = "waiting_on_customer"


class QueueQuery(Request):
    fast_track: bool | None = None
    leased: bool | None = Field(None, description="false leaves out claims someone holds")
    tab: QueueTab | None = Field(None, description="workable, or waiting_on_customer (documents missing); "
                                                   "both when absent, those waiting on the customer last")
    q: Annotated[Text(100), AfterValidator(_printable)] = Field(
        None, description="claim id, customer name or phone digits, asset id (plate) or address")
    page: QueryWhole(1, 100000) = 1
    limit: QueryWhole(1, 1000) = 100


class CustomerReminder(Request):
    note: Text() = None


class LeaseClaim(Request):
    note: Text() = None


# --- rescue --------------------------------------------------------------------------------------

class ProviderRegistration(Request):
    name: RequiredText(200)
    phone: Text(20) = None
    kind: RescueNeed
    capabilities: NonEmpty(list[RescueNeed] | None) = None
    capacity: Whole(1, 50) = 1
    available: DefaultOn = True
    location: Location | None = None
    location_at: Timestamp | None = Field(None, description="when the truck was there (its device's clock); "
                                                            "a time ahead of the server's is stored as now")
    user_id: Whole(1) | None = None


class ProviderChanges(Changes):
    location: Location = None
    location_at: Timestamp | None = Field(None, description="when the truck was there (its device's clock); "
                                                            "a time ahead of the server's is stored as now")
    available: Flag = True
    capacity: Whole(1, 50) = 1
    capabilities: NonEmpty(list[RescueNeed] | None) = None
    name: RequiredText(200) = None
    phone: Text(20) = None


class JobRequest(Request):
    claim_id: Whole(1) | None = None
    location: Location | None = None
    customer_id: Text(64) = None
    needs: RescueNeed | None = None
    note: Text() = None
    dispatch: DefaultOn = Field(True, description="false leaves the job for the next batch")


class JobListQuery(Request):
    state: JobState | None = None
    limit: QueryWhole(1, 5000) = 200


class JobStatusReport(Request):
    status: RequiredText(32) = Field(description="accepted | rejected | en_route | on_scene | towing | completed "
                                                 "| gone_on_arrival | cancelled")
    note: Text() = None
    provider_id: Whole(1) | None = None
    eta_minutes: Whole(1, 24 * 60) | None = None


class Assignment(Request):
    provider_id: Whole(1)
    override_reason: Text(500) = Field(None, description="required for a truck beyond the radius an automatic "
                                                         "offer reaches; audited")


class JobHold(Request):
    """A dispatcher is working a pending job by hand: no automatic offer while the hold lasts."""


class Reoffer(Request):
    note: Text() = None


# --- payments ------------------------------------------------------------------------------------

def _kind_or_advance(value):
    return value or PaymentKind.ADVANCE  # null and "" have always meant an advance


class PaymentRequest(Request):
    amount: Amount
    kind: Annotated[PaymentKind, BeforeValidator(_kind_or_advance)] = PaymentKind.ADVANCE
    reason: Text() = None


class PaymentDecision(Request):
    note: Text() = None
    reason: Text() = None
    override_reason: Text() = Field(None, description="why the payment may go while the ID card or the bank "
                                                      "account document is missing (audited)")

    @property
    def said(self) -> str | None:
        return self.note or self.reason


class IdempotencyKey(Request):
    key: ClientKey

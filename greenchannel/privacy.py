"""Who sees a phone number in full: least privilege for personal data.

- admin: every number (they run the system and answer for it).
- customer: in full, since all a customer ever sees is their own number and the number of the
  truck sent to them.
- dispatcher: the numbers of rescue providers (calling the trucks is the job) and of a customer
  who has a live rescue job (the truck is on its way, or should be); every other customer's
  number masked.
- adjuster, supervisor, manager and any other role: masked, e.g. +86 138****5678.
"""

from __future__ import annotations

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Customer, RescueJob
from store.models.greenchannel import FINAL_JOB_STATES

CUSTOMER, PROVIDER = "customer", "provider"


def mask_phone(phone: str | None) -> str | None:
    """+8613812345678 -> +86 138****5678: enough to tell two numbers apart, not enough to call one."""
    if not phone:
        return phone
    try:
        number = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        number = None
    national = str(number.national_number) if number is not None else "".join(c for c in phone if c.isdigit())
    if len(national) < 7:
        return "*" * len(national) if national else "****"
    head = national[:3] if len(national) >= 10 else national[:2]
    shown = f"{head}****{national[-4:]}"
    return f"+{number.country_code} {shown}" if number is not None else shown


def phone_as_seen_by(role: str, phone: str | None, whose: str, *, live_rescue: bool = False) -> str | None:
    """The phone number as this role may see it (whose: CUSTOMER or PROVIDER)."""
    if phone is None or role in ("admin", "customer"):
        return phone
    if role == "dispatcher" and (whose == PROVIDER or live_rescue):
        return phone
    return mask_phone(phone)


def customer_phones(session: Session, customer_ids: set[str]) -> dict[str, str | None]:
    if not customer_ids:
        return {}
    return dict(session.execute(select(Customer.customer_id, Customer.phone)
                                .where(Customer.customer_id.in_(customer_ids))).all())


def customers_with_live_rescue(session: Session, customer_ids: set[str]) -> set[str]:
    if not customer_ids:
        return set()
    return set(session.scalars(select(RescueJob.customer_id).distinct().where(
        RescueJob.customer_id.in_(customer_ids), RescueJob.state.not_in(FINAL_JOB_STATES))))

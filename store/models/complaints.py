"""Customers' complaints, each with the clock by which someone must answer it, and the answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base
from store.types import UTCDateTime, utcnow


class ComplaintState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (CheckConstraint(f"state IN ({', '.join(repr(str(s)) for s in ComplaintState)})",
                                      name="state_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16), default="web")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer_due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Open until one answer is stored: the move to answered is a conditional UPDATE, so two staff (or one
    # double click) answering at once store one answer and send one SMS.
    state: Mapped[str] = mapped_column(String(16), default=ComplaintState.OPEN, server_default="open")
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

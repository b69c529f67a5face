"""The insured book: customers and the assets they insure (docs/architecture.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base
from store.types import Money, UTCDateTime, utcnow


class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    birth_year: Mapped[int | None] = mapped_column(Integer)
    vulnerable: Mapped[bool] = mapped_column(Boolean, default=False)
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    push_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    push_token: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)


class Asset(Base):
    __tablename__ = "assets"

    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="vehicle")  # vehicle, home, shop, factory
    lon: Mapped[float] = mapped_column(Float)  # WGS-84, always
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(500))
    admin_code: Mapped[str | None] = mapped_column(String(16), index=True)
    insured_value: Mapped[Decimal | None] = mapped_column(Money)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)

"""The green channel's configurable rules as typed objects.

Rule modules take these as arguments and never read settings themselves; the composition roots (the
app factory, worker start-up, the CLI) build them once from the settings with `from_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal


@dataclass(frozen=True)
class RescueRules:
    offer_timeout_s: float = 300.0
    provider_location_max_age_s: float = 900.0
    hold_s: float = 60.0
    gazetteer_path: str | None = None

    @property
    def hold(self) -> timedelta:
        return timedelta(seconds=self.hold_s)

    @property
    def offer_timeout(self) -> timedelta:
        return timedelta(seconds=self.offer_timeout_s)

    @property
    def location_max_age(self) -> timedelta:
        return timedelta(seconds=self.provider_location_max_age_s)


@dataclass(frozen=True)
class QueueRules:
    claim_lease_s: float = 900.0


@dataclass(frozen=True)
class PaymentRules:
    advance_ratio: Decimal = Decimal("0.5")


@dataclass(frozen=True)
class CatEventRules:
    propose_min_assets: int = 500


@dataclass(frozen=True)
class GreenChannelRules:
    rescue: RescueRules = field(default_factory=RescueRules)
    queue: QueueRules = field(default_factory=QueueRules)
    payments: PaymentRules = field(default_factory=PaymentRules)
    cat_events: CatEventRules = field(default_factory=CatEventRules)

    @classmethod
    def from_settings(cls, settings) -> GreenChannelRules:
        """From a config.Settings (or anything with the same attributes)."""
        return cls(
            rescue=RescueRules(offer_timeout_s=float(settings.rescue_offer_timeout),
                               provider_location_max_age_s=float(settings.provider_location_max_age_s),
                               hold_s=float(getattr(settings, "rescue_hold_s", 60.0)),
                               gazetteer_path=getattr(settings, "gazetteer_path", None)),
            queue=QueueRules(claim_lease_s=float(settings.claim_lease_s)),
            payments=PaymentRules(advance_ratio=Decimal(str(settings.advance_ratio))),
            cat_events=CatEventRules(propose_min_assets=int(settings.cat_propose_min_assets)),
        )

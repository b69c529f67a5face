"""Failover between SMS providers: each provider's health, and its share of new messages (docs/architecture.md,
"Failover between SMS providers").

Modelled on GOV.UK Notify (`switch_current_sms_provider_on_slow_delivery`, `tend_providers_back_to_middle`),
but fast enough for a typhoon: a provider whose recent hand-overs fail (5xx, 429, timeouts, refused
connections) or are slow, or whose delivered receipts come late, is cut from new traffic at once, and once
its trouble has aged out of the health window it drifts back to its resting share over `drift_back_s`.
As in Notify, nobody is cut when every provider is in trouble: there would be nowhere better to go.

Plain rules: the figures come from alerts/notifying/provider_health.py (Redis and the receipts).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from enum import StrEnum


class Trouble(StrEnum):
    ERRORS = "errors"  # 5xx, 429, timeouts and transport errors
    SLOW_HANDOVER = "slow_handover"  # the API call answered late
    SLOW_DELIVERY = "slow_delivery"  # hand-over to the delivered receipt took long


class SwitchKind(StrEnum):
    CUT = "cut"  # no new messages go to it
    RESTORED = "restored"  # back at its resting share


@dataclass(frozen=True)
class FailoverRules:
    providers: tuple[str, ...]  # in order of preference
    resting: tuple[float, ...]  # each provider's share when all are healthy; sums to 1
    window_s: float = 30.0
    slow_handover_s: float = 2.0
    slow_delivery_s: float = 240.0
    error_rate: float = 0.3  # this share of bad (failed, or slow) hand-overs in the window is trouble
    drift_back_s: float = 300.0
    min_samples: int = 10  # fewer hand-overs (receipts) than this in the window say nothing

    @classmethod
    def from_settings(cls, settings) -> FailoverRules:
        providers = settings.sms_provider_names
        if settings.sms_split:
            weights = [float(part) for part in settings.sms_split.split(",")]
        else:
            weights = [1.0] + [0.0] * (len(providers) - 1)
        total = sum(weights)
        return cls(providers, tuple(w / total for w in weights), window_s=settings.sms_health_window_s,
                   slow_handover_s=settings.sms_slow_handover_s, slow_delivery_s=settings.sms_slow_delivery_s,
                   error_rate=settings.sms_error_rate_threshold, drift_back_s=settings.sms_drift_back_s)

    @property
    def several(self) -> bool:
        return len(self.providers) > 1


@dataclass(frozen=True)
class Health:
    """One provider's figures over the health window."""

    attempts: int = 0  # hand-overs answered, or given up on
    errors: int = 0  # 5xx, timeouts, transport errors
    throttled: int = 0  # 429
    slow: int = 0  # answered later than slow_handover_s
    delivered: int = 0  # delivered receipts
    slow_delivered: int = 0  # ... later than slow_delivery_s after the hand-over


def trouble(health: Health, rules: FailoverRules) -> Trouble | None:
    """Why this provider should take no new messages now, or None."""
    if health.attempts >= rules.min_samples:
        if (health.errors + health.throttled) / health.attempts >= rules.error_rate:
            return Trouble.ERRORS
        if health.slow / health.attempts >= rules.error_rate:
            return Trouble.SLOW_HANDOVER
    if health.delivered >= rules.min_samples and health.slow_delivered / health.delivered >= rules.error_rate:
        return Trouble.SLOW_DELIVERY
    return None


@dataclass(frozen=True)
class ProviderState:
    weight: float = 1.0  # the part of its resting share it gets: 0 (cut) to 1 (resting)
    trouble: Trouble | None = None  # why it was last cut


@dataclass(frozen=True)
class Switch:
    provider: str
    kind: SwitchKind
    trouble: Trouble | None
    share_before: float
    share_after: float


def next_states(states: dict[str, ProviderState], health: dict[str, Health], rules: FailoverRules,
                elapsed_s: float) -> tuple[dict[str, ProviderState], list[Switch]]:
    """The providers' states `elapsed_s` after the last decision, given their health now, and the switches."""
    before = {name: states.get(name, ProviderState()) for name in rules.providers}
    troubles = {name: trouble(health.get(name, Health()), rules) for name in rules.providers}
    everyone_in_trouble = all(troubles.values())
    after: dict[str, ProviderState] = {}
    for name, state in before.items():
        found = troubles[name]
        if found and not everyone_in_trouble and rules.several:
            after[name] = ProviderState(0.0, found)
        elif found:
            after[name] = state
        elif state.weight < 1.0:
            step = 1.0 if rules.drift_back_s <= 0 else elapsed_s / rules.drift_back_s
            after[name] = replace(state, weight=min(1.0, state.weight + step))
        else:
            after[name] = state
    shares_before, shares_after = split(before, rules).shares, split(after, rules).shares
    switches = []
    for name in rules.providers:
        if before[name].weight > 0 and after[name].weight == 0:
            switches.append(Switch(name, SwitchKind.CUT, after[name].trouble, shares_before[name], shares_after[name]))
        elif before[name].weight < 1 and after[name].weight == 1:
            switches.append(Switch(name, SwitchKind.RESTORED, before[name].trouble, shares_before[name],
                                   shares_after[name]))
    return after, switches


@dataclass(frozen=True)
class Split:
    """Each provider's share of new messages, and which ones are cut (standbys with a 0 share are not)."""

    shares: dict[str, float]
    cut: frozenset[str] = frozenset()


def split(states: dict[str, ProviderState], rules: FailoverRules) -> Split:
    """The shares of new messages.

    A provider gets its resting share times its weight; what the cut or recovering ones leave goes to the
    fully healthy ones by their resting shares (to the first of them in order of preference when those are
    all 0, as with the default split "all to the first").
    """
    weight = {name: states.get(name, ProviderState()).weight for name in rules.providers}
    cut = frozenset(name for name, w in weight.items() if w <= 0)
    resting = dict(zip(rules.providers, rules.resting, strict=True))
    own = {name: resting[name] * weight[name] for name in rules.providers}
    left = 1.0 - sum(own.values())
    if left <= 1e-9:
        return Split(own, cut)
    healthy = [name for name in rules.providers if weight[name] >= 1.0]
    takers = healthy or [name for name in rules.providers if weight[name] > 0]
    if not takers:
        return Split(dict(resting), cut)
    basis = {name: resting[name] if healthy else weight[name] for name in takers}
    total = sum(basis.values())
    if total <= 0:
        basis, total = {takers[0]: 1.0}, 1.0
    return Split({name: own[name] + left * basis.get(name, 0.0) / total for name in rules.providers}, cut)


def choose(current: Split, rules: FailoverRules, rng: random.Random, avoid: str | None = None) -> str:
    """The provider for one message, by share. A retry (`avoid`: its failed attempt's provider) goes to
    another provider that is not cut, if there is one, even a standby with no share of new messages."""
    others = [name for name in rules.providers if name != avoid and name not in current.cut]
    candidates = others if avoid and others else list(rules.providers)
    weights = [current.shares.get(name, 0.0) for name in candidates]
    if sum(weights) > 0:
        return rng.choices(candidates, weights)[0]
    return candidates[0]

"""Every state set of the models, by name, as JSON clients and the console read it (GET /v1/vocabulary).

Collected from the modules themselves rather than listed by hand, so a state added or renamed in a
StrEnum reaches the console's JavaScript with nothing else to edit (docs/architecture.md, "One
vocabulary"). `enums` are the StrEnums member by member; `sets` the named tuples of their members
(STAGES, LIVE_JOB_STATES, NOT_DELIVERED, ...) that rules and pages share.
"""

from __future__ import annotations

from enum import StrEnum
from types import ModuleType

from store.models import alerts, complaints, greenchannel, notifications

STATE_MODULES = (alerts, greenchannel, notifications, complaints)


def _enums(module: ModuleType) -> dict[str, type[StrEnum]]:
    return {name: value for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, StrEnum) and value.__module__ == module.__name__}


def _sets(module: ModuleType) -> dict[str, tuple]:
    return {name: value for name, value in vars(module).items()
            if name.isupper() and isinstance(value, tuple) and value
            and all(isinstance(item, StrEnum) for item in value)}


def state_vocabulary() -> dict[str, dict]:
    enums: dict[str, dict[str, str]] = {}
    sets: dict[str, list[str]] = {}
    for module in STATE_MODULES:
        for name, enum in _enums(module).items():
            enums[name] = {member.name: member.value for member in enum}
        for name, members in _sets(module).items():
            sets[name] = [member.value for member in members]
    return {"enums": enums, "sets": sets}

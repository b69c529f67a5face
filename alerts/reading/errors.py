"""What goes wrong with an incoming message, said precisely: the element and the reason.

`haven alerts parse` reports `FILE: /alert/info[1]/area[2]/polygon: <reason>`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. /alert/info[1]/area[2]/polygon, or /features[3]/properties/sent for JSON
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class MessageInvalid(ValueError):
    """The message (or one part of it) cannot be accepted; carries every problem found, first one first."""

    def __init__(self, problems: list[Problem] | Problem | str, reason: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems, reason or "invalid")]
        elif isinstance(problems, Problem):
            problems = [problems]
        if not problems:
            raise ValueError("MessageInvalid needs at least one problem")
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self.problems[0]))

    @property
    def path(self) -> str:
        return self.problems[0].path

    @property
    def reason(self) -> str:
        return self.problems[0].reason

    def summary(self) -> str:
        """All problems, one per line (what an operator reads in the quarantine)."""
        return "\n".join(str(p) for p in self.problems)


class BodyTooLarge(MessageInvalid):
    """Refused before parsing: the body is over HAVEN_MAX_BODY_BYTES."""

    def __init__(self, size: int, limit: int):
        super().__init__("/", f"body of {size} bytes exceeds the limit of {limit} bytes (HAVEN_MAX_BODY_BYTES)")
        self.size, self.limit = size, limit

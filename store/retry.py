"""The one retry policy of every domain part: exponential backoff, capped, with optional jitter.

Used for a send that failed (delivery: 0.5-1 s, then 1-2 s, ... up to the cap, jittered so a provider
that failed many messages at once is not asked again all at once), for a feed or QWeather point that
failed (its interval doubled per failure in a row, up to the cap), and for a green-channel unit of work
that lost a deadlock or serialisation race (tens of milliseconds, jittered so the two racers part).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float
    jitter: float = 0.0  # the share of each wait drawn at random: 0.5 waits between half and all of it

    def wait_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before try `attempt + 1` after `attempt` tries failed (attempt 1: the base)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** max(attempt - 1, 0))
        if not self.jitter:
            return ceiling
        return ceiling * (1 - self.jitter) + (rng or random).random() * ceiling * self.jitter

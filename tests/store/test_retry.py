"""store/retry.py: the one backoff policy, for failed sends, failing feeds and database conflicts."""

import random

from alerts.notifying.delivery import backoff_s
from alerts.reading.feedstate import backoff_s as feed_backoff_s
from store.retry import Backoff


def test_the_wait_doubles_per_attempt_up_to_the_cap():
    policy = Backoff(base_s=60, cap_s=3600)
    waits = [policy.wait_s(attempt) for attempt in range(1, 9)]
    assert waits[:4] == [60, 120, 240, 480], f"doubling from the base: {waits}"
    assert waits[-1] == 3600, f"capped: {waits}"
    assert policy.wait_s(0) == 60, "attempt 0 (nothing failed yet) waits the base"


def test_jitter_keeps_each_wait_between_half_and_all_of_its_ceiling():
    rng = random.Random(7)
    policy = Backoff(base_s=1, cap_s=120, jitter=0.5)
    for attempt, ceiling in ((1, 1), (3, 4), (20, 120)):
        waits = [policy.wait_s(attempt, rng) for _ in range(200)]
        assert min(waits) >= ceiling / 2, f"attempt {attempt}: no wait under half of {ceiling} s: {min(waits)}"
        assert max(waits) <= ceiling, f"attempt {attempt}: no wait over {ceiling} s: {max(waits)}"
        assert len(set(waits)) > 100, f"attempt {attempt}: the waits are spread, not one value"


def test_sends_and_feeds_use_the_same_policy():
    assert feed_backoff_s(60, 3, 3600) == Backoff(60, 3600).wait_s(4), "a feed after 3 failures waits 8 intervals"
    assert feed_backoff_s(60, 0, 3600) == 60, "a feed that just recovered waits one interval"
    wait = backoff_s(2, random.Random(1))
    assert 1 <= wait <= 2, f"a send's second retry waits 1-2 s: {wait}"

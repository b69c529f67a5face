"""Drill steps run in a separate process, so that they talk to whichever Redis their environment names
(the test process's own Celery app is bound to the session's Redis).

    python -m tests.notify_drill ping N           wait until N worker processes answer
    python -m tests.notify_drill notify ALERT_ID  queue the fan-out of a stored, matched alert
"""

from __future__ import annotations

import sys
import time


def ping(workers: int) -> None:
    from workers.system import ping as ping_task

    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while len(seen) < workers and time.monotonic() < deadline:
        results = [ping_task.apply_async(args=("drill",)) for _ in range(workers * 2)]
        seen |= {result.get(timeout=120)["worker_pid"] for result in results}
    if len(seen) < workers:
        sys.exit(f"only {len(seen)} of {workers} workers answered")


def main() -> None:
    command, argument = sys.argv[1], sys.argv[2]
    if command == "ping":
        ping(int(argument))
    elif command == "notify":
        from workers.notify import notify_customers

        notify_customers.apply_async(args=(int(argument),))
    else:
        sys.exit(f"unknown drill {command!r}")


if __name__ == "__main__":
    main()

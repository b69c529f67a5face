"""Recovery drills run in a separate process, so that they talk to whichever Redis their environment
names (the test process's own Celery app is bound to the session's Redis).

    python -m tests.notify_drill ping N           wait until N worker processes answer
    python -m tests.notify_drill notify ALERT_ID  queue the fan-out of a stored, matched alert
    python -m tests.notify_drill sweep SECONDS    run the delivery sweep every second (a beat stand-in)
                                                  with drill timeouts, until every notification is final
"""

from __future__ import annotations

import sys
import time

DRILL_TIMEOUTS = {"sending_s": 10.0, "queued_s": 10.0, "retry_grace_s": 5.0, "fan_out_s": 15.0}


def ping(workers: int) -> None:
    from workers.system import ping as ping_task

    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while len(seen) < workers and time.monotonic() < deadline:
        results = [ping_task.apply_async(args=("drill",)) for _ in range(workers * 2)]
        seen |= {result.get(timeout=120)["worker_pid"] for result in results}
    if len(seen) < workers:
        sys.exit(f"only {len(seen)} of {workers} workers answered")


def sweep_until_final(seconds: float) -> None:
    from sqlalchemy import func, select

    from store.db import session_scope
    from store.models import FINAL_STATES, Notification
    from workers.periodic import sweep_notifications

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sweep_notifications(**DRILL_TIMEOUTS)
        except Exception as exc:  # Redis is down for a moment: beat would simply try again
            print(f"sweep failed: {exc}", file=sys.stderr)
        with session_scope() as session:
            open_rows = session.execute(select(func.count()).select_from(Notification).where(
                Notification.state.not_in(FINAL_STATES + ("sent",)))).scalar_one()
            total = session.execute(select(func.count()).select_from(Notification)).scalar_one()
        if total and not open_rows:
            return
        time.sleep(1.0)
    sys.exit("notifications still open when the drill ended")


def main() -> None:
    command, argument = sys.argv[1], sys.argv[2]
    if command == "ping":
        ping(int(argument))
    elif command == "notify":
        from workers.notify import notify_customers

        notify_customers.apply_async(args=(int(argument),))
    elif command == "sweep":
        sweep_until_final(float(argument))
    else:
        sys.exit(f"unknown drill {command!r}")


if __name__ == "__main__":
    main()

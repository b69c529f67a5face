"""The Celery app: named queues and thin task wrappers over alerts/, geo/ and greenchannel/.

`celery -A workers worker -Q ingest,match` finds `app` here. Without HAVEN_REDIS_URL the
same tasks run in-process (task_always_eager), so the embedded default has no second code path.
"""

from workers.app import QUEUES, app, enqueue
from workers.wiring import wire

wire()  # worker start-up is a composition root

__all__ = ["QUEUES", "app", "enqueue"]

"""A task goes through a real Celery worker on real Redis and comes back."""

import os

from workers.system import ping


def test_task_round_trips_through_a_real_worker(celery_worker, sqlite_url):
    celery_worker(sqlite_url, queues="periodic")
    result = ping.delay("hello from the test")
    reply = result.get(timeout=60)
    assert reply["echo"] == "hello from the test"
    assert reply["worker_pid"] != os.getpid()  # it really ran in the worker process


def test_embedded_default_runs_the_same_task_in_process():
    reply = ping.delay("inline").get(timeout=5)
    assert reply == {"echo": "inline", "worker_pid": os.getpid()}


def test_eager_tasks_from_many_threads_leave_results_readable():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda i: ping.delay(f"t{i}").get(timeout=5)["echo"], range(200)))
    assert replies == [f"t{i}" for i in range(200)]
    assert ping.delay("after").get(timeout=5)["echo"] == "after"

"""System tasks: a round-trip probe that proves a worker is consuming."""

from workers.app import app


@app.task(name="haven.system.ping")
def ping(payload: str) -> dict:
    import os

    return {"echo": payload, "worker_pid": os.getpid()}

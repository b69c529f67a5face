"""Prometheus metrics: request counters here, domain gauges from each route module's collect_metrics()."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "haven_http_requests_total", "HTTP requests served", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "haven_http_request_seconds", "HTTP request latency", ["method", "route"], registry=REGISTRY
)

# Labels come only from fixed sets: a client inventing methods (or paths: unmatched ones are one route)
# would otherwise add a time series per request and grow the process without end.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"



class DomainCollector:
    """Reads domain figures (feed health, delivery, SLA breaches) from the database at scrape time."""

    def __init__(self, sources: list[Callable[[], Iterable[Metric]]]):
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        for source in self.sources:
            try:
                yield from source()
            except Exception:  # a broken gauge must not take down the whole scrape
                log.exception("metrics source %s failed", getattr(source, "__qualname__", source))


def install_domain_sources(sources: list[Callable[[], Iterable[Metric]]]) -> None:
    for collector in list(REGISTRY._collector_to_names):
        if isinstance(collector, DomainCollector):
            REGISTRY.unregister(collector)
    REGISTRY.register(DomainCollector(sources))


def render() -> bytes:
    return generate_latest(REGISTRY)


class SingleFlight:
    """Scrapes that arrive while one is being rendered share its result: ten at once cost one."""

    def __init__(self, produce: Callable[[], Awaitable[bytes]]):
        self._produce = produce
        self._running: asyncio.Future | None = None

    async def __call__(self) -> bytes:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._produce())
        # shield: one scraper hanging up must not cancel the render the others wait for
        return await asyncio.shield(self._running)

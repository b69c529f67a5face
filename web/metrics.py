"""Prometheus metrics: request counters here, domain gauges from each route module's collect_metrics()."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

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

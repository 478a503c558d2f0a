"""Prometheus metrics: what this process did (counters, histograms) and, at each scrape of
``/metrics``, what the database says of the whole cluster (jobs, queue, credits).

The process metrics are made once, unregistered, and put in a fresh registry with the store's
numbers at each scrape: several apps in one process (tests) never clash over names.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from mailsift.store.gauges import StoreGauges

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ADDRESSES_VERIFIED = Counter(
    "mailsift_addresses_verified",
    "Addresses given their final result by this process's workers.",
    ["result", "reason"],
    registry=None,
)
SMTP_SESSIONS = Counter(
    "mailsift_smtp_sessions",
    "SMTP sessions this process opened, by how they ended.",
    ["outcome"],
    registry=None,
)


class PauseSource(Protocol):
    """What the engine knows of the servers it leaves alone (``verify.limits.HostManners``)."""

    @property
    def pauses(self) -> int: ...

    def paused_hosts(self) -> int: ...


class _HostPauses(Collector):
    """Reads the pauses of the engine this process runs, at each scrape."""

    def __init__(self) -> None:
        self._source: PauseSource | None = None

    def watch(self, source: PauseSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        pauses = CounterMetricFamily(
            "mailsift_host_pauses",
            "Times a mail server was left alone for a while (421, rate limits, too many errors).",
        )
        paused = GaugeMetricFamily(
            "mailsift_hosts_paused", "Mail servers this process is leaving alone right now."
        )
        pauses.add_metric([], self._source.pauses if self._source else 0)
        paused.add_metric([], self._source.paused_hosts() if self._source else 0)
        yield pauses
        yield paused


HOST_PAUSES = _HostPauses()
CHUNK_SECONDS = Histogram(
    "mailsift_chunk_duration_seconds",
    "Time to run one chunk of a job (until its addresses are final or handed back).",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=None,
)
REALTIME_SECONDS = Histogram(
    "mailsift_realtime_duration_seconds",
    "Answer time of /email_verification/, by result.",
    ["result"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
    registry=None,
)
PROCESS_METRICS: tuple[Collector, ...] = (
    ADDRESSES_VERIFIED,
    SMTP_SESSIONS,
    HOST_PAUSES,
    CHUNK_SECONDS,
    REALTIME_SECONDS,
)


class _StoreCollector(Collector):
    def __init__(self, gauges: StoreGauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        g = self._gauges
        yield _gauge("mailsift_jobs", "Jobs in the store, by stage.", "stage", g.jobs_by_stage)
        yield _gauge(
            "mailsift_queue_chunks",
            "Chunks of unfinished jobs, by state (queued: waiting for a worker).",
            "state",
            g.chunks_by_state,
        )
        pending = GaugeMetricFamily(
            "mailsift_queue_addresses", "Addresses of unfinished jobs still without a result."
        )
        pending.add_metric([], g.addresses_pending)
        yield pending
        for name, text, values in (
            (
                "mailsift_credits_added",
                "Credits added, by balance and ledger kind.",
                g.credits_added,
            ),
            (
                "mailsift_credits_spent",
                "Credits spent, by balance and ledger kind.",
                g.credits_spent,
            ),
        ):
            family = CounterMetricFamily(name, text, labels=["balance", "kind"])
            for (balance, kind), amount in sorted(values.items()):
                family.add_metric([balance, kind], amount)
            yield family


def _gauge(name: str, text: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def render(
    gauges: StoreGauges | None = None,
    extra: Iterable[Collector] = (),
    siblings: Iterable[str] = (),
) -> bytes:
    """The Prometheus text exposition of this process's metrics and the store's numbers.

    ``siblings``: the expositions of processes working for this one (its engine process),
    added into this process's numbers so that one scrape shows what the server did.
    """
    registry = CollectorRegistry(auto_describe=True)
    texts = list(siblings)
    own = (_Summed(PROCESS_METRICS, texts),) if texts else PROCESS_METRICS
    for collector in own:
        registry.register(collector)
    for collector in extra:
        registry.register(collector)
    if gauges is not None:
        registry.register(_StoreCollector(gauges))
    return generate_latest(registry)


class _Summed(Collector):
    """``collectors`` with the same families of ``texts`` added in, sample by sample
    (``_created``: the earliest)."""

    def __init__(self, collectors: Iterable[Collector], texts: list[str]) -> None:
        self._collectors = tuple(collectors)
        self._texts = texts

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        own = (metric for collector in self._collectors for metric in collector.collect())
        parsed = (metric for text in self._texts for metric in text_string_to_metric_families(text))
        for metric in itertools.chain(own, parsed):
            if metric.name not in families:
                families[metric.name] = Metric(metric.name, metric.documentation, metric.type)
                values[metric.name] = {}
            summed = values[metric.name]
            for sample in metric.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in summed:
                    summed[key] = sample.value
                elif sample.name.endswith("_created"):
                    summed[key] = min(summed[key], sample.value)
                else:
                    summed[key] += sample.value
        for name, family in families.items():
            for (sample_name, labels), value in values[name].items():
                family.add_sample(sample_name, dict(labels), value)
            yield family


def serve_process_metrics(host: str, port: int) -> None:
    """Serve this process's metrics over HTTP from a background thread (``mailsift worker``)."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in PROCESS_METRICS:
        registry.register(collector)
    start_http_server(port, addr=host, registry=registry)

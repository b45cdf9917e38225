"""GET /metrics in Prometheus' text format, for an API key or a configured network only.

Two sources. The ledger, queue, webhook and mirror figures are read from the database when
scraped (service.domain.figures): exact across any number of web processes and workers, and
across restarts. Request latency and rate-limit refusals happen in the web processes and are
counted there; under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (the image
does) so that prometheus-client adds up every worker's counts on each scrape.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Request, Response, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from service.domain import apikeys, figures
from service.domain.apikeys import NotAllowed, NotAuthenticated, Role
from service.domain.mail import MAIL_KIND
from service.domain.mirror.queue import MIRROR_KIND
from service.domain.webhooks_out.delivery import DELIVERY_KIND
from service.settings import Settings
from service.web.current import client_ip, container

# prometheus-client's own switch: with it, counts go to files shared by the processes.
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if MULTIPROC_DIR:
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

# No *_created series: they double the output and multiprocess mode has none anyway.
disable_created_metrics()  # type: ignore[no-untyped-call]
UNMATCHED = "(unmatched)"
REQUEST_SECONDS = Histogram(
    "consent_http_request_duration_seconds",
    "Time to answer a request, by route (the URL rule, never the path), method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RATE_LIMITED = Counter(
    "consent_rate_limited", "Requests refused by a rate limit (429), by route.", ["route"],
)
OUTBOX_KINDS = (MAIL_KIND, MIRROR_KIND, DELIVERY_KIND)
OUTBOX_STATES = ("pending", "running", "dead")

bp = Blueprint("metrics", __name__)


def route_of(req: Request) -> str:
    """Return the request's URL rule: paths carry personal links' tokens, rules do not."""
    return req.url_rule.rule if req.url_rule is not None else UNMATCHED


# Each latency series by its labels, once looked up: labels() checks the labels and takes a
# lock on every call. As many as routes, methods and statuses answered.
_latency_series: dict[tuple[str, str, int], Histogram] = {}


def observe(req: Request, response: Response, seconds: float | None) -> None:
    """Count one answered request: its latency, and a refusal by a rate limit."""
    route = route_of(req)
    status = response.status_code
    if status == 429:
        RATE_LIMITED.labels(route).inc()
    if seconds is not None:
        labels = (route, req.method, status)
        series = _latency_series.get(labels)
        if series is None:
            series = _latency_series[labels] = REQUEST_SECONDS.labels(route, req.method,
                                                                      str(status))
        series.observe(seconds)


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


class DatabaseCollector(Collector):
    """Yield the figures read from the database at scrape time."""

    def __init__(self, container: Any) -> None:
        """Read through the container's sessions and clock."""
        self._container = container

    def describe(self) -> Iterable[Metric]:
        """Describe nothing up front: registering must not query the database."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the figures; a database that does not answer is reported, not raised."""
        up = GaugeMetricFamily("consent_database_up",
                               "1 when the database answered this scrape, else 0.")
        try:
            with self._container.session_factory() as session:
                found = figures.read(session, now=self._container.clock.now())
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _ledger(found)
        yield from _queue(found)
        yield from _mirror(found)


def _ledger(found: figures.Figures) -> Iterator[Metric]:
    labels = ["channel", "method", "kind"]
    optins = CounterMetricFamily(
        "consent_optins", "Consents given: kind requested (awaiting confirmation) or granted "
        "(verbal, single opt-in, import), by channel and method.", labels=labels)
    confirmations = CounterMetricFamily(
        "consent_confirmations", "Opt-ins confirmed, by channel and method.", labels=labels)
    withdrawals = CounterMetricFamily(
        "consent_withdrawals", "Consents withdrawn: kind withdrawn or complained (a spam "
        "complaint), by channel and method.", labels=labels)
    bounces = CounterMetricFamily(
        "consent_bounces", "Hard bounces reported by the mail provider, by channel and method.",
        labels=labels)
    family_of = {"requested": optins, "granted": optins, "confirmed": confirmations,
                 "withdrawn": withdrawals, "complained": withdrawals, "bounced": bounces}
    for (kind, channel, method), count in sorted(found.events.items()):
        if kind in family_of:
            family_of[kind].add_metric([channel, method, kind], count)
    yield from (optins, confirmations, withdrawals, bounces)
    subs = GaugeMetricFamily("consent_subscriptions", "Subscriptions by channel and state.",
                             labels=["channel", "state"])
    for (channel, state), count in sorted(found.subscriptions.items()):
        subs.add_metric([channel, state], count)
    yield subs


def _queue(found: figures.Figures) -> Iterator[Metric]:
    kinds = sorted(set(OUTBOX_KINDS) | {kind for kind, _ in found.outbox})
    items = GaugeMetricFamily(
        "consent_outbox_items", "Queued side effects not done, by kind and status (dead: "
        "parked, never tried again until released).", labels=["kind", "status"])
    parked = GaugeMetricFamily("consent_outbox_parked",
                               "Queued side effects parked for good (status dead), by kind.",
                               labels=["kind"])
    oldest = GaugeMetricFamily("consent_outbox_oldest_waiting_seconds",
                               "Age of the oldest pending or running item, by kind (0: none).",
                               labels=["kind"])
    failures = CounterMetricFamily(
        "consent_delivery_failures", "Failed attempts at queued side effects, by kind (mail: "
        "mail delivery, webhook.delivery: webhook delivery, mirror.pass: mirror passes).",
        labels=["kind"])
    states = sorted(set(OUTBOX_STATES) | {status for _, status in found.outbox})
    for kind in kinds:
        for status in states:
            items.add_metric([kind, status], found.outbox.get((kind, status), 0))
        parked.add_metric([kind], found.outbox.get((kind, "dead"), 0))
        oldest.add_metric([kind], round(found.oldest_waiting.get(kind, 0.0), 3))
        failures.add_metric([kind], found.failed_attempts.get(kind, 0))
    yield from (items, parked, oldest, failures)
    deliveries = GaugeMetricFamily("consent_webhook_deliveries",
                                   "Outbound webhook deliveries by status.", labels=["status"])
    for status, count in sorted(found.webhook_deliveries.items()):
        deliveries.add_metric([status], count)
    yield deliveries
    yield CounterMetricFamily("consent_webhook_failed_attempts",
                              "Webhook delivery attempts that got no 2xx answer.",
                              value=found.webhook_failed_attempts)


def _mirror(found: figures.Figures) -> Iterator[Metric]:
    mirror = found.mirror
    yield GaugeMetricFamily("consent_mirror_lag_seconds",
                            "How long the oldest change not yet in the mirror has waited.",
                            value=float(mirror.get("lag_seconds") or 0.0))
    last = _timestamp(mirror.get("last_success"))
    success = GaugeMetricFamily("consent_mirror_last_success_timestamp_seconds",
                                "When a mirror pass last succeeded (Unix time; absent: never).")
    if last is not None:
        success.add_metric([], last)
    yield success
    yield GaugeMetricFamily("consent_mirror_failing",
                            "1 while the last mirror pass failed, else 0.",
                            value=1.0 if mirror.get("last_error") else 0.0)
    yield GaugeMetricFamily("consent_mirror_needs_attention",
                            "1 when a person must fix the mirror's setup (see /readyz).",
                            value=1.0 if mirror.get("needs_attention") else 0.0)
    yield GaugeMetricFamily("consent_mirror_rows", "Rows in the mirror after the last pass.",
                            value=float(mirror.get("rows") or 0))


class _ThisProcess(Collector):
    """Yield this process's own metrics (one process: `consent serve`, tests)."""

    def collect(self) -> Iterator[Metric]:
        """Yield everything the default registry holds."""
        yield from REGISTRY.collect()


def registry_for(container: Any) -> CollectorRegistry:
    """Return a registry for one scrape: in-process counts (all workers') and the database's."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROC_DIR:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector(container))
    return registry


def from_allowed_network(settings: Settings, address: str | None) -> bool:
    """Tell whether a caller's address is in CONSENT_METRICS_NETWORKS."""
    if not settings.metrics_networks or not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in settings.metrics_networks
               if network.version == ip.version)


@bp.errorhandler(NotAuthenticated)
def _unauthenticated(_exc: NotAuthenticated) -> Any:
    response = jsonify({"error": "unauthorized",
                        "message": "send an API key as Authorization: Bearer <key>, or scrape "
                                   "from a network listed in CONSENT_METRICS_NETWORKS"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="consent-register"'
    return response


@bp.errorhandler(NotAllowed)
def _forbidden(exc: NotAllowed) -> Any:
    return jsonify({"error": "key_revoked" if exc.reason == "revoked" else "forbidden",
                    "message": "this API key may not read the metrics"}), 403


@bp.get("/metrics")
def metrics() -> Any:
    """Answer the metrics to a configured network, or to any valid API key."""
    app_container = container()
    if not from_allowed_network(app_container.settings, request.remote_addr):
        # Each scrape is not an audit entry (it would be thousands a day); refusals are.
        apikeys.authorize(app_container.uow(), apikeys.bearer_secret(
            request.headers.get("Authorization")), Role.READER, now=app_container.clock.now(),
            ip=client_ip(), action="metrics.read", audit_success=False)
    body = generate_latest(registry_for(app_container))
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST,
                                   "Cache-Control": "no-store"})

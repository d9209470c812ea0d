"""Prometheus instruments this process observes (``REGISTRY``); ``gateway.web.metrics`` serves them.

Labels are route templates, statuses, stage names, destinations and model ids: never a patient,
tenant, assessment or delivery id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

SCRAPER_ROLE = "scraper"
"""The role of an allow-listed address without a token; no token can hold it (``store.ROLES``)."""

DELIVERY_STATUSES = ("pending", "sending", "retrying", "delivered", "dead")

REGISTRY = CollectorRegistry(auto_describe=True)
"""This process's observations; ``metrics`` adds the database's at each scrape."""

REQUEST_SECONDS = Histogram(
    "pain_gateway_request_duration_seconds", "HTTP request latency per route template", ["method", "route", "status"], registry=REGISTRY
)
SUBMISSIONS = Counter(
    "pain_gateway_submissions", "Assessment submissions by source and outcome (scored, duplicate, queued, rejected)", ["source", "outcome"], registry=REGISTRY
)
STAGE_SECONDS = Histogram(
    "pain_gateway_stage_duration_seconds",
    "Time in each pipeline stage run in this process (decode: keypoint parsing; score: windows, model, summary; deliver: one attempt)",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
MODEL_SECONDS = Histogram(
    "pain_gateway_model_inference_seconds",
    "Model forward pass per submission",
    ["model"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
DELIVERY_ATTEMPTS = Counter(
    "pain_gateway_delivery_attempts",
    "Delivery attempts made by this process, by destination and outcome (delivered, retry, failed)",
    ["destination", "outcome"],
    registry=REGISTRY,
)


def observe_scored(model_id: str, model_s: float, total_s: float) -> None:
    MODEL_SECONDS.labels(model_id).observe(model_s)
    STAGE_SECONDS.labels("score").observe(total_s)


def observe_delivery(destination: str, outcome: str, seconds: float) -> None:
    DELIVERY_ATTEMPTS.labels(destination, outcome).inc()
    STAGE_SECONDS.labels("deliver").observe(seconds)

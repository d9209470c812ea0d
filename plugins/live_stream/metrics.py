"""The live plugin's own Prometheus series, on the registry ``GET /metrics`` serves."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from gateway import METRICS_REGISTRY

LIVE_WINDOW_SECONDS = Histogram(
    "pain_gateway_live_window_seconds",
    "Live scoring: from the frame that closes a 1-second window to its result being queued for the client",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5),
    registry=METRICS_REGISTRY,
)
LIVE_DROPPED = Counter("pain_gateway_live_dropped_windows", "Live window results dropped because a client read them too slowly", registry=METRICS_REGISTRY)

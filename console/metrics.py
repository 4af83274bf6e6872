"""The console's own Prometheus metrics (served at /metrics)."""

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "console_http_requests",
    "HTTP requests served, by view and status code",
    ["method", "view", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "console_http_request_duration_seconds",
    "Time to serve an HTTP request, by view",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        # Labelled by route name, never by raw path: paths hold ids and would explode
        # the series count.
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "unnamed") if match else "unmatched"
        LATENCY.labels(view).observe(time.perf_counter() - start)
        REQUESTS.labels(request.method, view, str(response.status_code)).inc()
        return response

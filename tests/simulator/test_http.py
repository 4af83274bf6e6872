"""Every HTTP endpoint of the three modules and the control port, and how bad requests
are answered. The simulator runs in-process on free ports; tests step it by hand."""

import http.client
import json
import re
import socket

import pytest

from .conftest import TOKEN
from .support import call, refuses_connections, run_checked, wait_until

pytestmark = pytest.mark.slow

DLQ_IDS = {"entry_ids": ["entry_1", "entry_2"]}

# A job and a fault of each module, for the endpoints every module serves.
JOB = {"alpha": "alpha_error_report", "beta": "beta_schema_sync", "gamma": "gamma_routing_sync"}
FAULT = {"alpha": "parse-error-storm", "beta": "quality-drop", "gamma": "ack-timeouts"}
METRIC = {
    "alpha": "alpha_buffer_utilization",
    "beta": "beta_queue_depth",
    "gamma": "gamma_dlq_size",
}


def common_cases(m: str) -> list[tuple]:
    job = JOB[m]
    idle = {"scheduled", "running"}
    # fmt: off
    return [
        (m, "GET", "/", None, 200, lambda j: "GET /health" in j["endpoints"]),
        (m, "GET", "/health", None, 200, lambda j: j["module"] == m and set(j["checks"]) == {
            "memory", "thread_pool", "dependencies"}),
        (m, "GET", "/metrics", None, 200, lambda t: METRIC[m] in t),
        (m, "GET", "/admin/status", None, 200, lambda j: j["state"] == "running"),
        (m, "POST", "/admin/pause", None, 200, lambda j: j["state"] == "paused"),
        (m, "POST", "/admin/resume", None, 200, lambda j: j["state"] == "running"),
        (m, "POST", "/admin/drain", None, 200, lambda j: j["state"] == "draining"),
        (m, "GET", "/admin/config", None, 200, lambda j: j["version"] == "1.0.0"),
        (m, "POST", "/admin/config/reload", None, 200, lambda j: j["version"] == "1.0.0"),
        (m, "GET", "/admin/faults", None, 200,
         lambda j: FAULT[m] in [f["scenario"] for f in j["available"]]),
        (m, "POST", "/admin/faults", {"scenario": FAULT[m]}, 201,
         lambda j: j["active"][0]["scenario"] == FAULT[m]),
        (m, "DELETE", "/admin/faults", None, 200, lambda j: "cleared" in j),
        (m, "DELETE", "/admin/faults/latency-spike", None, 200, lambda j: j["cleared"] == []),
        (m, "GET", "/admin/jobs/list", None, 200,
         lambda j: isinstance(j, list) and all(x["module"] == m for x in j)),
        (m, "GET", f"/admin/jobs/{job}/status", None, 200, lambda j: j["name"] == job),
        (m, "POST", f"/admin/jobs/{job}/trigger", None, 202, lambda j: j["status"] == "RUNNING"),
        (m, "POST", f"/admin/jobs/{job}/suspend", None, 200, lambda j: j["status"] == "suspended"),
        (m, "POST", f"/admin/jobs/{job}/resume", None, 200, lambda j: j["status"] == "scheduled"),
        (m, "GET", f"/admin/jobs/{job}/logs", None, 200, lambda j: j["job"] == job),
        (m, "POST", "/admin/jobs/suspend-all", None, 200,
         lambda j: {x["status"] for x in j["jobs"]} == {"suspended"}),
        # A job the schedule started before the call keeps running.
        (m, "POST", "/admin/jobs/resume-all", None, 200,
         lambda j: {x["status"] for x in j["jobs"]} <= idle),
    ]
    # fmt: on


# (service, method, path, body, status, check on the JSON or text answer)
CASES = [case for m in ("alpha", "beta", "gamma") for case in common_cases(m)] + [
    ("alpha", "POST", "/admin/config/reload", {"ingestion_rate": 3000}, 200,
     lambda j: j["version"] == "1.0.1" and j["changed"] == ["ingestion_rate"]),
    ("alpha", "POST", "/admin/faults", {"scenario": "source-failure"}, 201,
     lambda j: j["target"] == "api_source_1"),
    ("gamma", "DELETE", "/admin/faults/destination-down", None, 200, lambda j: "cleared" in j),
    ("alpha", "GET", "/admin/jobs/list", None, 200,
     lambda j: {x["status"] for x in j} <= {"scheduled", "running"}),
    ("beta", "GET", "/admin/jobs/beta_cache_refresh/status", None, 200,
     lambda j: j["schedule"] == {"cadence": "hourly", "at": ":05"}),
    ("alpha", "GET", "/admin/sources", None, 200, lambda j: len(j["sources"]) == 3),
    ("alpha", "GET", "/admin/sources/api_source_1/status", None, 200,
     lambda j: j["status"] == "connected"),
    ("alpha", "GET", "/admin/sources/api_source_1/test", None, 200,
     lambda j: j["reachable"] is True),
    ("alpha", "POST", "/admin/sources/api_source_1/test", None, 200, lambda j: "latency_ms" in j),
    ("alpha", "POST", "/admin/sources/file_source_1/disable", None, 200,
     lambda j: j["status"] == "disabled"),
    ("alpha", "POST", "/admin/sources/file_source_1/enable", None, 200,
     lambda j: j["status"] == "connected"),
    ("beta", "GET", "/admin/cache/status", None, 200, lambda j: len(j["caches"]) == 3),
    ("beta", "GET", "/admin/cache/stats", None, 200, lambda j: "hit_rate" in j),
    ("beta", "POST", "/admin/cache/refresh/customer_db", None, 202,
     lambda j: j["refreshing"] == ["customer_db"]),
    ("beta", "POST", "/admin/cache/refresh/all", None, 202, lambda j: len(j["refreshing"]) == 3),
    ("beta", "GET", "/admin/cache/refresh/status", None, 200,
     lambda j: j["caches"]["customer_db"]["status"] == "idle"),
    ("gamma", "GET", "/admin/destinations", None, 200, lambda j: len(j["destinations"]) == 3),
    ("gamma", "GET", "/admin/destinations/analytics_warehouse/status", None, 200,
     lambda j: j["circuit_breaker"] == "OPEN"),
    ("gamma", "GET", "/admin/circuit-breakers/status", None, 200, lambda j: j["open"] == 1),
    ("gamma", "POST", "/admin/circuit-breakers/analytics_warehouse/reset", None, 200,
     lambda j: (j["previous_state"], j["state"]) == ("OPEN", "HALF_OPEN")),
    ("gamma", "GET", "/admin/dlq/stats", None, 200, lambda j: j["size"] > 0),
    ("gamma", "GET", "/admin/dlq/entries?limit=5&offset=1", None, 200,
     lambda j: len(j["entries"]) == 5 and j["entries"][0]["id"] == "entry_2"),
    ("gamma", "GET", "/admin/dlq/entries?reason=circuit_open&retry_eligible=true", None, 200,
     lambda j: {e["reason"] for e in j["entries"]} == {"circuit_open"}),
    ("gamma", "GET", "/admin/dlq/analysis", None, 200,
     lambda j: j["failure_reasons"][0]["count"] > 0),
    ("gamma", "POST", "/admin/dlq/replay", DLQ_IDS, 200, lambda j: j["replayed"] == 2),
    ("gamma", "POST", "/admin/dlq/replay", {"filter": {"retry_eligible": True}}, 200,
     lambda j: j["replayed"] > 0 and j["dlq_size"] == 0),
    ("gamma", "GET", "/admin/dlq/export?format=json", None, 200, lambda j: j["count"] > 0),
    ("gamma", "GET", "/admin/dlq/export?format=csv", None, 200,
     lambda t: t.startswith("id,record_id,")),
    ("gamma", "POST", "/admin/dlq/purge", DLQ_IDS, 200, lambda j: j["purged"] == 2),
    ("gamma", "POST", "/admin/dlq/purge", {"all": True}, 200, lambda j: j["dlq_size"] == 0),
    ("control", "GET", "/", None, 200, lambda j: "alpha" in j["modules"]),
    ("control", "GET", "/status", None, 200, lambda j: j["books"]["balanced"]),
    ("control", "GET", "/books", None, 200, lambda j: j["balanced"] and j["dlq"] > 0),
    ("control", "POST", "/modules/beta/crash", None, 200,
     lambda j: j["scenario"] == "module-crash"),
    ("control", "DELETE", "/modules/beta/crash", None, 200, lambda j: j["revived"] is False),
    ("control", "DELETE", "/faults", None, 200, lambda j: len(j["modules"]) == 3),
    ("control", "GET", "/scenarios", None, 200,
     lambda j: "destination-outage" in [s["name"] for s in j["scenarios"]]),
    ("control", "POST", "/scenarios/smoke", None, 202, lambda j: j["state"] == "running"),
    ("control", "GET", "/scenarios/current", None, 200, lambda j: j["state"] == "idle"),
    ("control", "DELETE", "/scenarios/current", None, 200, lambda j: j["state"] == "idle"),
]  # fmt: skip


def url(sim, service: str, path: str) -> str:
    base = sim.control.url if service == "control" else sim.services[service].url
    return base + path


@pytest.fixture
def busy(sim):
    """A simulator that has run a while with analytics_warehouse down: the DLQ has entries
    and that destination's breaker is OPEN."""
    sim.pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    run_checked(sim.pipeline, 6)
    sim.pipeline.clear_faults("gamma")
    return sim


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "status", "check"),
    CASES,
    ids=[f"{c[0]} {c[1]} {c[2]}" for c in CASES],
)
def test_endpoint_answers_as_documented(busy, service, method, path, body, status, check):
    reply = call(method, url(busy, service, path), body)
    assert reply.status == status, reply.text
    payload = reply.text if path == "/metrics" or "csv" in path else reply.json
    assert check(payload), payload
    assert busy.pipeline.books()["balanced"]


def test_every_route_is_covered_by_the_endpoint_table(sim):
    routers = {name: s.router for name, s in sim.services.items()} | {"control": sim.control.router}
    missing = []
    for service, router in routers.items():
        for endpoint in router.endpoints():
            method, pattern = endpoint.split(" ", 1)
            regex = re.compile(re.sub(r"\{\w+\}", "[^/]+", pattern))
            hit = any(
                c[0] == service and c[1] == method and regex.fullmatch(c[2].split("?")[0])
                for c in CASES
            )
            if not hit:
                missing.append(f"{service} {endpoint}")
    assert missing == []


def test_metrics_are_prometheus_text(sim):
    reply = call("GET", url(sim, "alpha", "/metrics"))
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_health_is_503_when_unhealthy(sim):
    sim.pipeline.apply_fault("beta", {"scenario": "memory-pressure", "ramp_seconds": 0})
    run_checked(sim.pipeline, 1)
    reply = call("GET", url(sim, "beta", "/health"))
    assert reply.status == 503
    assert reply.json["status"] == "UNHEALTHY"
    assert reply.json["checks"]["memory"]["status"] == "UNHEALTHY"


def test_a_triggered_job_ends_with_a_result_and_counts(sim):
    call("POST", url(sim, "gamma", "/admin/jobs/gamma_dlq_report/trigger"))
    run_checked(sim.pipeline, 4)
    reply = call("GET", url(sim, "gamma", "/admin/jobs/gamma_dlq_report/status"))
    assert reply.json["last_result"] == "SUCCESS"
    assert reply.json["history"][0]["records_processed"] == 0
    logs = call("GET", url(sim, "gamma", "/admin/jobs/gamma_dlq_report/logs?limit=1")).json
    assert len(logs["lines"]) == 1 and "finished SUCCESS" in logs["lines"][0]["message"]


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "status", "error"),
    [
        ("alpha", "GET", "/nowhere", None, 404, "not_found"),
        ("alpha", "GET", "/admin/sources/ghost/status", None, 404, "not_found"),
        ("beta", "POST", "/admin/cache/refresh/ghost", None, 404, "not_found"),
        ("gamma", "POST", "/admin/circuit-breakers/ghost/reset", None, 404, "not_found"),
        ("gamma", "GET", "/admin/destinations/ghost/status", None, 404, "not_found"),
        ("alpha", "GET", "/admin/jobs/ghost/status", None, 404, "not_found"),
        ("alpha", "GET", "/admin/jobs/alpha_error_report/logs?run=7", None, 404, "not_found"),
        ("alpha", "GET", "/admin/jobs/alpha_error_report/logs?run=x", None, 400, "invalid"),
        ("alpha", "POST", "/admin/faults", {"scenario": "destination-down"}, 400, "invalid"),
        ("alpha", "POST", "/admin/faults", ["source-failure"], 400, "invalid"),
        ("alpha", "DELETE", "/admin/faults/ghost", None, 400, "invalid"),
        ("alpha", "POST", "/admin/config/reload", {"ingestion_rate": "lots"}, 400, "invalid"),
        ("gamma", "POST", "/admin/dlq/replay", {}, 400, "invalid"),
        ("gamma", "POST", "/admin/dlq/purge", {"filter": {"colour": "red"}}, 400, "invalid"),
        ("gamma", "GET", "/admin/dlq/entries?limit=0", None, 400, "bad_request"),
        ("gamma", "GET", "/admin/dlq/entries?offset=-1", None, 400, "bad_request"),
        ("gamma", "GET", "/admin/dlq/entries?retry_eligible=maybe", None, 400, "invalid"),
        ("gamma", "GET", "/admin/dlq/export?format=xml", None, 400, "invalid"),
        ("alpha", "GET", "/admin/pause", None, 405, "method_not_allowed"),
        ("alpha", "DELETE", "/health", None, 405, "method_not_allowed"),
        ("control", "POST", "/modules/delta/crash", None, 404, "not_found"),
        ("control", "POST", "/scenarios/asteroid", None, 404, "not_found"),
    ],
)
def test_bad_requests_get_a_4xx_json_body_saying_what_was_wrong(
    sim, service, method, path, body, status, error
):
    reply = call(method, url(sim, service, path), body)
    assert reply.status == status
    assert reply.json["error"] == error
    assert reply.json["message"]
    assert call("GET", url(sim, "alpha", "/health")).status == 200


def test_a_path_served_by_another_module_says_which(sim):
    reply = call("GET", url(sim, "alpha", "/admin/dlq/stats"))
    assert reply.status == 404
    assert "served by gamma" in reply.json["message"]


def test_method_not_allowed_lists_the_allowed_methods(sim):
    reply = call("PUT", url(sim, "alpha", "/admin/faults"))
    assert reply.status == 405
    assert reply.headers["Allow"] == "DELETE, GET, POST"


def test_invalid_json_is_a_400(sim):
    reply = call("POST", url(sim, "gamma", "/admin/dlq/replay"), raw=b"{entry_ids: [")
    assert reply.status == 400
    assert "not valid JSON" in reply.json["message"]


def test_a_form_encoded_json_body_is_accepted_as_curl_d_sends_it(busy):
    reply = call(
        "POST",
        url(busy, "gamma", "/admin/dlq/replay"),
        raw=json.dumps(DLQ_IDS).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 200 and reply.json["replayed"] == 2


def test_an_oversized_body_is_a_413(sim):
    reply = call("POST", url(sim, "alpha", "/admin/config/reload"), raw=b" " * ((1 << 20) + 1))
    assert reply.status == 413
    assert reply.json["error"] == "payload_too_large"


def raw_exchange(sim, payload: bytes) -> str:
    service = sim.services["alpha"]
    with socket.create_connection((service.host, service.port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):  # the server closes after a malformed request
            chunks.append(chunk)
        return b"".join(chunks).decode()


def test_malformed_requests_get_json_and_the_module_lives_on(sim):
    # Too garbled to have an HTTP version: the stdlib answers HTTP/0.9 style, body only.
    assert '"error": "bad_request"' in raw_exchange(sim, b"THIS IS NOT HTTP\r\n\r\n")
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(120))
    answer = raw_exchange(sim, b"GET /health HTTP/1.1\r\n" + headers + b"\r\n")
    assert answer.startswith("HTTP/1.1 431")
    assert '"error": "bad_request"' in answer
    assert call("GET", url(sim, "alpha", "/health")).status == 200


def test_an_unexpected_error_is_a_500_and_the_module_keeps_answering(sim, monkeypatch, capsys):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(sim.pipeline.beta, "cache_status", broken)
    reply = call("GET", url(sim, "beta", "/admin/cache/status"))
    assert reply.status == 500
    assert reply.json["error"] == "internal"
    assert call("GET", url(sim, "beta", "/health")).status == 200
    assert "RuntimeError: boom" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("path", "method"),
    [("/admin/status", "GET"), ("/admin/pause", "POST"), ("/admin/faults", "GET")],
)
def test_the_token_guards_admin_endpoints(guarded_sim, path, method):
    target = url(guarded_sim, "alpha", path)
    missing = call(method, target)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert call(method, target, token="wrong").status == 401
    assert call(method, target, token=TOKEN).status == 200


def test_the_token_guards_the_control_port_but_not_health_or_metrics(guarded_sim):
    assert call("GET", url(guarded_sim, "control", "/status")).status == 401
    assert call("GET", url(guarded_sim, "control", "/status"), token=TOKEN).status == 200
    assert call("GET", url(guarded_sim, "gamma", "/health")).status == 200
    assert call("GET", url(guarded_sim, "gamma", "/metrics")).status == 200


def test_module_crash_closes_the_port_until_revived_through_the_control_port(sim):
    beta = sim.services["beta"].url
    reply = call("POST", beta + "/admin/faults", {"scenario": "module-crash"})
    assert reply.status == 201
    wait_until(lambda: refuses_connections(beta), what="beta to refuse connections")
    status = call("GET", url(sim, "control", "/status")).json
    assert status["modules"]["beta"]["up"] is False
    assert status["modules"]["beta"]["listening"] is False
    revived = call("DELETE", url(sim, "control", "/modules/beta/crash"))
    assert revived.json["revived"] is True
    assert call("GET", beta + "/health").status == 200
    assert sim.services["beta"].url == beta, "a revived module comes back on the same port"


def test_a_crash_cuts_open_keep_alive_connections(sim):
    service = sim.services["gamma"]
    conn = http.client.HTTPConnection(service.host, service.port, timeout=5)
    conn.request("GET", "/health")
    first = conn.getresponse()
    first.read()
    assert first.status == 200
    sim.pipeline.crash("gamma")
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/health")
        conn.getresponse()
    conn.close()
    sim.pipeline.revive("gamma")
    assert call("GET", service.url + "/health").status == 200


def test_a_scenario_started_over_http_plays_as_the_pipeline_steps(sim):
    call("POST", url(sim, "control", "/scenarios/smoke"))
    run_checked(sim.pipeline, 9, dt=0.25)
    current = call("GET", url(sim, "control", "/scenarios/current")).json
    assert current["state"] == "finished"
    assert current["steps_done"] == current["steps_total"]

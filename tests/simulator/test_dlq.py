"""The dead letter queue: its store, and replay and purge through Gamma (Runbook C.2)."""

import csv
import io
import json

import pytest

from simulator.dlq import DeadLetterQueue, Filter, entries_to_batches
from simulator.errors import Invalid
from simulator.records import Batch

from .support import run_checked


def batch(first: int, count: int, source: str = "api_source_1", dest: str = "partner_feed"):
    b = Batch(source, first, count, 0.0)
    b.destination = dest
    return b


def iso(t: float) -> str:
    return f"t{t}"


def test_dlq_names_entries_as_the_runbook_does_and_keeps_capacity():
    dlq = DeadLetterQueue(capacity=5)
    assert dlq.add(batch(100, 3), "rate_limited", 1.0) == 3
    assert dlq.add(batch(200, 4), "payload_rejected", 2.0) == 2
    assert len(dlq) == 5 and dlq.free == 0
    page = dlq.page(Filter(), limit=10, offset=0, now=3.0, iso=iso)
    assert [e["id"] for e in page["entries"]] == [f"entry_{i}" for i in range(1, 6)]
    assert page["entries"][0]["record_id"] == "rec_100"
    assert page["entries"][0]["retry_eligible"] is True
    assert page["entries"][3]["retry_eligible"] is False


def test_dlq_find_reports_missing_ids():
    dlq = DeadLetterQueue(capacity=10)
    dlq.add(batch(1, 2), "transient_error", 0.0)
    found, missing = dlq.find(["entry_1", "entry_9", "bogus"])
    assert [e.entry_id for e in found] == ["entry_1"]
    assert missing == ["entry_9", "bogus"]
    with pytest.raises(Invalid):
        dlq.find("entry_1")


def test_dlq_filters_pages_and_analysis():
    dlq = DeadLetterQueue(capacity=100)
    dlq.add(batch(1, 5, dest="partner_feed"), "rate_limited", 0.0)
    dlq.add(batch(10, 3, dest="analytics_warehouse"), "payload_rejected", 180.0)
    eligible = Filter.parse({"retry_eligible": True})
    assert len(list(dlq.select(eligible, 200.0))) == 5
    older = Filter.parse({"older_than_seconds": 150})
    assert len(list(dlq.select(older, 200.0))) == 5
    page = dlq.page(Filter(destination="analytics_warehouse"), 2, 1, 200.0, iso)
    assert page["total"] == 3 and len(page["entries"]) == 2
    analysis = dlq.analysis(200.0)
    assert [r["reason"] for r in analysis["failure_reasons"]] == [
        "rate_limited",
        "payload_rejected",
    ]
    assert analysis["retry_eligible"] == 5 and analysis["permanent"] == 3
    assert analysis["age_distribution"]["1-5m"] == 5
    assert analysis["age_distribution"]["<1m"] == 3
    stats = dlq.stats(200.0, iso)
    assert stats["size"] == 8 and stats["oldest_age_seconds"] == 200.0


def test_dlq_export_as_json_and_csv():
    dlq = DeadLetterQueue(capacity=10)
    dlq.add(batch(1, 2), "circuit_open", 0.0)
    kind, text = dlq.export(Filter(), "json", 1.0, iso)
    assert kind == "application/json" and json.loads(text)["count"] == 2
    kind, text = dlq.export(Filter(), "csv", 1.0, iso)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert kind.startswith("text/csv") and [r["id"] for r in rows] == ["entry_1", "entry_2"]
    with pytest.raises(Invalid):
        dlq.export(Filter(), "xml", 1.0, iso)


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"colour": "red"},
        {"retry_eligible": "yes"},
        {"reason": "gremlins"},
        {"destination": 3},
        {"older_than_seconds": True},
    ],
)
def test_dlq_filter_rejects_malformed_filters(raw):
    with pytest.raises(Invalid):
        Filter.parse(raw)


def test_dlq_filter_from_query_strings():
    flt = Filter.from_query({"retry_eligible": "false", "older_than_seconds": "5", "limit": "3"})
    assert flt == Filter(retry_eligible=False, older_than_seconds=5.0)
    with pytest.raises(Invalid):
        Filter.from_query({"retry_eligible": "maybe"})


def test_replayed_entries_regroup_into_batches_of_consecutive_records():
    dlq = DeadLetterQueue(capacity=20)
    dlq.add(batch(1, 4), "rate_limited", 0.0)
    dlq.add(batch(5, 2, dest="archive_store"), "rate_limited", 0.0)
    dlq.add(batch(50, 1), "rate_limited", 0.0)
    batches = entries_to_batches(list(dlq.select(Filter(), 0.0)), now=9.0)
    assert [(b.first_id, b.count, b.destination) for b in batches] == [
        (1, 4, "partner_feed"),
        (5, 2, "archive_store"),
        (50, 1, "partner_feed"),
    ]
    assert all(b.ingested_at == 9.0 for b in batches)


def fill_dlq(pipeline, seconds=6):
    pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    books = run_checked(pipeline, seconds)
    assert books["dlq"] > 0
    pipeline.clear_faults("gamma")
    with pipeline.gamma.lock:
        pipeline.gamma.reset_breaker("analytics_warehouse")
    return books


def test_replay_by_ids_delivers_those_records(pipeline):
    gamma = pipeline.gamma
    fill_dlq(pipeline)
    with gamma.lock:
        ids = [e.entry_id for e in list(gamma.dlq.select(Filter(), 0))[:25]]
        size = len(gamma.dlq)
        result = gamma.replay({"entry_ids": ids + ["entry_999999"]})
    assert result["replayed"] == 25
    assert result["not_found"] == ["entry_999999"]
    assert result["dlq_size"] == size - 25
    books = run_checked(pipeline, 5)
    assert books["queued"]["gamma_replay"] == 0
    assert gamma.dlq.replayed_total == 25


def test_replay_by_filter_empties_the_eligible_entries_and_records_arrive(pipeline):
    gamma = pipeline.gamma
    fill_dlq(pipeline)
    delivered_before = gamma.destinations["analytics_warehouse"].delivered
    with gamma.lock:
        size = len(gamma.dlq)
        result = gamma.replay({"filter": {"retry_eligible": True}})
    assert result["replayed"] == size
    books = run_checked(pipeline, 20)
    assert books["dlq"] == 0
    assert gamma.destinations["analytics_warehouse"].delivered - delivered_before >= size


@pytest.mark.parametrize(
    "body",
    [None, [], {}, {"all": True}, {"entry_ids": ["entry_1"], "filter": {}}, {"filter": "all"}],
)
def test_replay_refuses_malformed_bodies(pipeline, body):
    with pipeline.gamma.lock, pytest.raises(Invalid):
        pipeline.gamma.replay(body)


def test_purge_by_ids_by_filter_and_all_counts_as_rejected(pipeline):
    gamma = pipeline.gamma
    fill_dlq(pipeline)
    with gamma.lock:
        ids = [e.entry_id for e in list(gamma.dlq.select(Filter(), 0))[:10]]
        assert gamma.purge({"entry_ids": ids})["purged"] == 10
        purged = gamma.purge({"filter": {"reason": "circuit_open"}})["purged"]
        rest = gamma.purge({"all": True})["purged"]
    books = pipeline.books()
    assert books["balanced"]
    assert books["dlq"] == 0
    assert books["rejected"]["dlq_purged"] == 10 + purged + rest
    with gamma.lock, pytest.raises(Invalid):
        gamma.purge({"all": "yes"})


def test_a_full_dlq_holds_records_instead_of_losing_them(pipeline):
    gamma = pipeline.gamma
    with gamma.lock:
        gamma.reload_config({"dlq_capacity": 500})
    pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    books = run_checked(pipeline, 30)
    assert books["dlq"] == 500
    # What the DLQ cannot take stays queued: Gamma fills, then Beta behind it.
    assert books["queued"]["gamma_queue"] >= gamma.config.values["queue_capacity"] - 100
    assert books["queued"]["beta_queue"] > 0


def test_cleanup_job_archives_entries_past_retention(pipeline):
    gamma = pipeline.gamma
    fill_dlq(pipeline, seconds=3)
    size = len(gamma.dlq)
    # Seven manual days at time scale 60 is 10,080 simulated seconds.
    pipeline.clock.now += 7 * 86400 / 60
    with gamma.lock:
        archived = gamma._archive_expired()
    assert archived == size
    assert pipeline.books()["rejected"]["dlq_expired"] == size
    assert pipeline.books()["balanced"]

"""The flow and its accounting: ingested = delivered + queued + in the DLQ + rejected."""

import threading

import pytest

from simulator.errors import Conflict
from simulator.faults import CATALOG
from simulator.module import RunState
from simulator.pipeline import Pipeline

from .support import run_checked

# Every fault on every module that can have it.
FAULTS = [(module, name) for name, spec in CATALOG.items() for module in spec.modules]


def test_books_balance_at_every_step_of_normal_flow(pipeline):
    books = run_checked(pipeline, 30)
    assert books["ingested"] > 25000
    assert books["delivered"] > 0.95 * books["ingested"]
    assert books["dlq"] == 0


def test_records_flow_through_every_module_source_and_destination(pipeline):
    run_checked(pipeline, 20)
    assert all(s.ingested > 0 for s in pipeline.alpha.sources.values())
    assert pipeline.beta.transformed > 0
    assert all(d.delivered > 0 for d in pipeline.gamma.destinations.values())
    # Every delivered record was observed once in the end-to-end histogram.
    assert pipeline.gamma.e2e_hist.count == pipeline.gamma.delivered


def test_nominal_rates_are_carried(pipeline):
    pipeline.alpha.reload_config({"ingestion_rate": 5000})
    start = pipeline.books()
    books = run_checked(pipeline, 20)
    ingested = (books["ingested"] - start["ingested"]) / 20
    delivered = (books["delivered"] - start["delivered"]) / 20
    assert 4500 < ingested < 5500
    assert delivered > 0.95 * ingested


@pytest.mark.parametrize(("module", "scenario"), FAULTS)
def test_books_balance_through_every_fault_and_after_it_clears(pipeline, module, scenario):
    run_checked(pipeline, 5)
    pipeline.apply_fault(module, {"scenario": scenario})
    run_checked(pipeline, 40)
    pipeline.clear_faults(module)
    before = pipeline.books()["delivered"]
    books = run_checked(pipeline, 40)
    assert books["delivered"] > before, "records flow again once the fault clears"


def test_books_balance_when_read_while_another_thread_steps():
    pipeline = Pipeline(rate=5000, seed=3)
    pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    stop = threading.Event()

    def stepper() -> None:
        while not stop.is_set():
            pipeline.step(0.05)

    thread = threading.Thread(target=stepper)
    thread.start()
    try:
        for _ in range(300):
            books = pipeline.books()
            assert books["balanced"], books
    finally:
        stop.set()
        thread.join()
    assert pipeline.books()["ingested"] > 0


def test_backpressure_fills_alpha_when_beta_stops(pipeline):
    pipeline.crash("beta")
    books = run_checked(pipeline, 30)
    capacity = pipeline.alpha.config.values["buffer_capacity"]
    assert books["queued"]["alpha_buffer"] == capacity
    assert pipeline.alpha.backpressure_active
    assert sum(s.throttled for s in pipeline.alpha.sources.values()) > 0
    ingested = books["ingested"]
    run_checked(pipeline, 5)
    assert pipeline.books()["ingested"] == ingested, "a full buffer admits nothing"
    pipeline.revive("beta")
    books = run_checked(pipeline, 30)
    assert books["queued"]["alpha_buffer"] < capacity / 10
    assert books["ingested"] > ingested


def test_pause_holds_records_and_resume_releases_them(pipeline):
    run_checked(pipeline, 2)
    with pipeline.gamma.lock:
        assert pipeline.gamma.pause()["state"] == RunState.PAUSED
    delivered = pipeline.books()["delivered"]
    books = run_checked(pipeline, 5)
    # Acknowledgments already in flight still arrive; nothing new is sent.
    assert books["delivered"] - delivered < 200
    assert books["queued"]["gamma_queue"] > 1000
    with pipeline.gamma.lock:
        pipeline.gamma.resume()
    books = run_checked(pipeline, 10)
    assert books["queued"]["gamma_queue"] < 100


def test_paused_alpha_ingests_nothing(pipeline):
    with pipeline.alpha.lock:
        pipeline.alpha.pause()
    run_checked(pipeline, 3)
    assert pipeline.books()["ingested"] == 0


def test_drain_empties_the_module_then_reports_drained(pipeline):
    run_checked(pipeline, 2)
    with pipeline.alpha.lock:
        result = pipeline.alpha.drain()
    assert result["state"] == RunState.DRAINING
    books = run_checked(pipeline, 5)
    assert pipeline.alpha.state is RunState.DRAINED
    assert books["queued"]["alpha_buffer"] == 0
    ingested = books["ingested"]
    run_checked(pipeline, 2)
    assert pipeline.books()["ingested"] == ingested
    with pipeline.alpha.lock:
        assert pipeline.alpha.resume()["state"] == RunState.RUNNING


@pytest.mark.parametrize(
    ("start", "action", "expected"),
    [
        (RunState.RUNNING, "pause", RunState.PAUSED),
        (RunState.RUNNING, "resume", RunState.RUNNING),
        (RunState.RUNNING, "drain", RunState.DRAINING),
        (RunState.PAUSED, "pause", RunState.PAUSED),
        (RunState.PAUSED, "resume", RunState.RUNNING),
        (RunState.PAUSED, "drain", RunState.DRAINING),
        (RunState.DRAINING, "pause", RunState.PAUSED),
        (RunState.DRAINING, "resume", RunState.RUNNING),
        (RunState.DRAINING, "drain", RunState.DRAINING),
        (RunState.DRAINED, "pause", RunState.PAUSED),
        (RunState.DRAINED, "resume", RunState.RUNNING),
        (RunState.DRAINED, "drain", RunState.DRAINED),
    ],
)
def test_run_state_transition_table(pipeline, start, action, expected):
    module = pipeline.beta
    module.state = start
    with module.lock:
        result = getattr(module, action)()
    assert result["previous_state"] == start
    assert module.state is expected


def test_run_state_moves_outside_the_table_are_refused(pipeline):
    module = pipeline.beta
    module.state = RunState.RUNNING
    with pytest.raises(Conflict):
        module._move(RunState.DRAINED, "force")


def test_ingestion_rate_follows_a_config_reload(pipeline):
    run_checked(pipeline, 5)
    with pipeline.alpha.lock:
        pipeline.alpha.reload_config({"ingestion_rate": 200})
    start = pipeline.books()["ingested"]
    run_checked(pipeline, 10)
    assert 1500 < pipeline.books()["ingested"] - start < 2500


def test_a_disabled_source_sends_nothing(pipeline):
    with pipeline.alpha.lock:
        pipeline.alpha.set_source_enabled("file_source_1", False)
    run_checked(pipeline, 5)
    assert pipeline.alpha.sources["file_source_1"].ingested == 0
    assert pipeline.alpha.sources["api_source_1"].ingested > 0

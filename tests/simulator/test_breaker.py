"""Circuit breaker transitions, as a table over every state and event, and in Gamma."""

import pytest

from simulator.breaker import ALLOWED_MOVES, BreakerState, CircuitBreaker

from .support import run_checked

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def breaker_in(state: BreakerState) -> tuple[CircuitBreaker, float]:
    """A breaker driven into ``state`` by real events; returns it and the time."""
    breaker = CircuitBreaker("d", failure_ratio=0.5, min_attempts=20, open_seconds=30)
    now = 1.0
    if state is CLOSED:
        return breaker, now
    breaker.record(now, 0, 20)
    assert breaker.state is OPEN
    if state is OPEN:
        return breaker, now
    now += 30
    assert breaker.allowance(now) == breaker.trial_records
    return breaker, now


def apply(breaker: CircuitBreaker, now: float, event: str) -> None:
    if event == "failures":
        breaker.record(now, 5, 20)
    elif event == "few_failures":  # under min_attempts: never enough to trip
        breaker.record(now, 0, 5)
    elif event == "successes":
        breaker.record(now, 20, 0)
    elif event == "mostly_ok":  # 20% failures: under the ratio
        breaker.record(now, 40, 10)
    elif event == "timer":
        breaker.allowance(now + 31)
    elif event == "reset":
        breaker.reset(now)
    else:
        raise AssertionError(event)


TABLE = {
    CLOSED: {
        "failures": OPEN,
        "few_failures": CLOSED,
        "successes": CLOSED,
        "mostly_ok": CLOSED,
        "timer": CLOSED,
        "reset": CLOSED,
    },
    OPEN: {
        "failures": OPEN,
        "few_failures": OPEN,
        "successes": OPEN,
        "mostly_ok": OPEN,
        "timer": HALF_OPEN,
        "reset": HALF_OPEN,
    },
    HALF_OPEN: {
        "failures": OPEN,
        "few_failures": HALF_OPEN,  # 5 of the 10 trial records: not judged yet
        "successes": CLOSED,
        "mostly_ok": CLOSED,  # trials are judged by the same ratio as the window
        "timer": HALF_OPEN,
        "reset": HALF_OPEN,
    },
}


@pytest.mark.parametrize(
    ("start", "event", "expected"),
    [(s, e, x) for s, row in TABLE.items() for e, x in row.items()],
)
def test_breaker_transition_table(start, event, expected):
    breaker, now = breaker_in(start)
    apply(breaker, now, event)
    assert breaker.state is expected


@pytest.mark.parametrize("start", list(BreakerState))
@pytest.mark.parametrize("target", list(BreakerState))
def test_breaker_refuses_moves_outside_the_allowed_table(start, target):
    breaker, now = breaker_in(start)
    if start is target:
        breaker._move(target, now, "same state is a no-op")
        assert breaker.state is start
    elif (start, target) in ALLOWED_MOVES:
        breaker._move(target, now, "allowed")
        assert breaker.state is target
    else:
        with pytest.raises(ValueError):
            breaker._move(target, now, "not allowed")


def test_breaker_allowance_per_state():
    closed, now = breaker_in(CLOSED)
    assert closed.allowance(now) is None
    opened, now = breaker_in(OPEN)
    assert opened.allowance(now + 1) == 0
    half, now = breaker_in(HALF_OPEN)
    assert half.allowance(now) == 10
    half.record(now, 4, 1)
    assert half.allowance(now) == 5


def test_half_open_trials_are_judged_together():
    half, now = breaker_in(HALF_OPEN)
    half.record(now, 0, 4)
    assert half.state is HALF_OPEN
    half.record(now, 6, 0)
    assert half.state is CLOSED, "4 of 10 failed: under the 50% ratio"
    again, now = breaker_in(HALF_OPEN)
    again.record(now, 5, 5)
    assert again.state is OPEN


def test_breaker_window_forgets_old_failures():
    breaker = CircuitBreaker("d", window_seconds=10)
    breaker.record(0.0, 0, 15)
    breaker.record(20.0, 0, 10)  # the first 15 are out of the window: 10 < min_attempts
    assert breaker.state is CLOSED


def test_breaker_status_reports_transitions_and_trip_counts():
    breaker, now = breaker_in(OPEN)
    status = breaker.status(now + 5, lambda t: f"t={t}")
    assert status["state"] == OPEN
    assert status["state_value"] == 1
    assert status["trips_total"] == 1
    assert status["failures_at_last_trip"] == 20
    assert status["half_open_in_seconds"] == 25
    assert status["transitions"][-1]["to"] == OPEN
    assert status["transitions"][-1]["at"] == f"t={now}"


def test_gamma_breaker_trips_on_a_down_destination_and_recovers(pipeline):
    gamma = pipeline.gamma
    breaker = gamma.destinations["analytics_warehouse"].breaker
    run_checked(pipeline, 2)
    pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    run_checked(pipeline, 3)
    assert breaker.state is OPEN
    # Still down when the open timer runs out: the trial fails and it opens again.
    run_checked(pipeline, 31)
    assert breaker.trips >= 2
    assert [m["to"] for m in breaker.history][:3] == [OPEN, HALF_OPEN, OPEN]
    pipeline.clear_faults("gamma")
    run_checked(pipeline, 31)
    assert breaker.state is CLOSED
    assert [m["to"] for m in breaker.history][-2:] == [HALF_OPEN, CLOSED]


def test_gamma_breaker_reset_half_opens_then_closes_when_the_destination_is_back(pipeline):
    gamma = pipeline.gamma
    breaker = gamma.destinations["analytics_warehouse"].breaker
    pipeline.apply_fault("gamma", {"scenario": "destination-down"})
    run_checked(pipeline, 3)
    pipeline.clear_faults("gamma")
    with gamma.lock:
        result = gamma.reset_breaker("analytics_warehouse")
    assert (result["previous_state"], result["state"]) == (OPEN, HALF_OPEN)
    run_checked(pipeline, 1)
    assert breaker.state is CLOSED

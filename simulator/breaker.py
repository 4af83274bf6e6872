"""A circuit breaker per destination: CLOSED, OPEN, HALF_OPEN.

The manual names the states and what operators do with them (000, Morning Health
Verification; 001, Runbook C.3) but gives no trip threshold or timer, so the numbers below
are ours: trip when at least half of the last ten seconds' delivery attempts failed (with at
least 20 attempts, so one bad record cannot trip it), stay OPEN for 30 seconds, then let 10
trial records through and judge them by the same ratio (as resilience4j does), so that one
transient error among the trials does not re-open a recovered destination. Thirty seconds
is long enough for Runbook C.3's ``watch -n5 .../circuit-breakers/status`` to see every
state go by.
"""

from collections import deque
from enum import StrEnum
from typing import Any

from .stats import RateWindow


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


# The value of gamma_circuit_breaker_state: the alert tests ``== 1`` for OPEN
# (001, Alert Definitions, gamma_circuit_breaker_open).
STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}

ALLOWED_MOVES = {
    (BreakerState.CLOSED, BreakerState.OPEN),  # failure ratio crossed the threshold
    (BreakerState.OPEN, BreakerState.HALF_OPEN),  # open timer ran out, or an operator reset
    (BreakerState.HALF_OPEN, BreakerState.CLOSED),  # the trial records mostly succeeded
    (BreakerState.HALF_OPEN, BreakerState.OPEN),  # too many trial records failed
}


class CircuitBreaker:
    """Decides how many records may be sent to one destination, and learns from outcomes."""

    def __init__(
        self,
        name: str,
        failure_ratio: float = 0.5,
        min_attempts: int = 20,
        window_seconds: float = 10.0,
        open_seconds: float = 30.0,
        trial_records: int = 10,
    ) -> None:
        self.name = name
        self.failure_ratio = failure_ratio
        self.min_attempts = min_attempts
        self.open_seconds = open_seconds
        self.trial_records = trial_records
        self.state = BreakerState.CLOSED
        self.changed_at = 0.0
        self.trips = 0
        self.trial_successes = 0
        self.trial_failures = 0
        # Failures seen in the window when it last tripped: the morning check asks for "the
        # associated error counts that triggered the transition" (000).
        self.failures_at_trip = 0
        self._window = RateWindow(width=2, span=window_seconds)
        self.history: deque[dict[str, Any]] = deque(maxlen=20)

    def allowance(self, now: float) -> int | None:
        """Records that may be attempted now: None means no limit, 0 means fail fast."""
        if self.state is BreakerState.OPEN and now - self.changed_at >= self.open_seconds:
            self._move(BreakerState.HALF_OPEN, now, "open timer elapsed")
        if self.state is BreakerState.OPEN:
            return 0
        if self.state is BreakerState.HALF_OPEN:
            return max(self.trial_records - self.trial_successes - self.trial_failures, 0)
        return None

    def record(self, now: float, successes: int, failures: int) -> None:
        if successes == 0 and failures == 0:
            return
        if self.state is BreakerState.HALF_OPEN:
            self.trial_successes += successes
            self.trial_failures += failures
            tried = self.trial_successes + self.trial_failures
            if tried < self.trial_records:
                return
            bad = self.trial_failures
            if bad / tried >= self.failure_ratio:
                self._trip(now, bad, f"{bad} of {tried} trial records failed")
            else:
                self._move(BreakerState.CLOSED, now, f"{tried - bad} of {tried} trials succeeded")
            return
        if self.state is BreakerState.OPEN:
            return
        self._window.add(now, successes, failures)
        ok, failed = self._window.totals(now)
        attempts = ok + failed
        if attempts >= self.min_attempts and failed / attempts >= self.failure_ratio:
            self._trip(now, int(failed), f"{int(failed)} of {int(attempts)} attempts failed")

    def reset(self, now: float) -> dict[str, Any]:
        """Operator reset (001, Runbook C.3): an OPEN breaker goes to HALF_OPEN at once.

        It is not forced CLOSED: the trial records confirm the destination is back, so a
        reset on a destination that is still down re-opens after ten records instead of
        sending it the whole backlog.
        """
        before = self.state
        if self.state is BreakerState.OPEN:
            self._move(BreakerState.HALF_OPEN, now, "manual reset")
        return {"destination": self.name, "previous_state": before, "state": self.state}

    def status(self, now: float, iso: Any) -> dict[str, Any]:
        ok, failed = self._window.totals(now)
        body: dict[str, Any] = {
            "destination": self.name,
            "state": self.state,
            "state_value": STATE_VALUE[self.state],
            "since": iso(self.changed_at),
            "seconds_in_state": round(now - self.changed_at, 3),
            "trips_total": self.trips,
            "failures_at_last_trip": self.failures_at_trip,
            "window": {"successes": int(ok), "failures": int(failed)},
            "thresholds": {
                "failure_ratio": self.failure_ratio,
                "min_attempts": self.min_attempts,
                "open_seconds": self.open_seconds,
                "trial_records": self.trial_records,
            },
            "transitions": [dict(move, at=iso(move["at"])) for move in self.history],
        }
        if self.state is BreakerState.OPEN:
            body["half_open_in_seconds"] = round(
                max(self.open_seconds - (now - self.changed_at), 0.0), 3
            )
        return body

    def _trip(self, now: float, failures: int, reason: str) -> None:
        self.failures_at_trip = failures
        self.trips += 1
        self._move(BreakerState.OPEN, now, reason)

    def _move(self, to: BreakerState, now: float, reason: str) -> None:
        if to is self.state:
            return
        if (self.state, to) not in ALLOWED_MOVES:
            raise ValueError(f"breaker {self.name}: {self.state} -> {to} is not allowed")
        self.history.append({"at": now, "from": self.state, "to": to, "reason": reason})
        self.state = to
        self.changed_at = now
        self.trial_successes = 0
        self.trial_failures = 0
        if to is BreakerState.CLOSED:
            self._window = RateWindow(width=2, span=self._window.span)

"""The simulator's clock: simulated seconds, real wall time, and the scaled manual clock."""

from datetime import UTC, datetime, timedelta


class Clock:
    """Simulated seconds since start, advanced only by ``Pipeline.step``.

    Everything inside the simulator (breaker timers, retries, scenario scripts, job runs)
    reads this clock, so tests step it instead of sleeping. The batch-job scheduler reads
    the *manual* clock, which runs ``time_scale`` times faster, so that the manual's hourly
    jobs come round every minute at the default scale of 60.
    """

    def __init__(self, time_scale: float = 60.0, wall_start: datetime | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.now = 0.0
        self.time_scale = time_scale
        self.wall_start = wall_start or datetime.now(UTC)

    def advance(self, dt: float) -> float:
        self.now += dt
        return self.now

    def wall(self, t: float | None = None) -> datetime:
        return self.wall_start + timedelta(seconds=self.now if t is None else t)

    def iso(self, t: float | None = None) -> str:
        return self.wall(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def manual(self, t: float | None = None) -> datetime:
        return self.wall_start + timedelta(seconds=(self.now if t is None else t) * self.time_scale)

    def sim_at_manual(self, moment: datetime) -> float:
        """The simulated second at which the manual clock shows ``moment``."""
        return (moment - self.wall_start).total_seconds() / self.time_scale

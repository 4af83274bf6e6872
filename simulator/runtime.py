"""The running simulator: the pipeline, its tick thread, and four HTTP services."""

import sys
import threading
import time
import traceback
from datetime import datetime
from types import TracebackType

from .api import module_router
from .control import control_router
from .pipeline import Pipeline
from .scenarios import ScenarioRunner
from .server import Service
from .settings import Settings


class Ticker(threading.Thread):
    """Steps the pipeline by the real time elapsed, every ``interval`` seconds."""

    def __init__(self, pipeline: Pipeline, interval: float) -> None:
        super().__init__(name="pipeline-tick", daemon=True)
        self.pipeline = pipeline
        self.interval = interval
        self._halt = threading.Event()

    def run(self) -> None:
        last = time.monotonic()
        while not self._halt.wait(self.interval):
            now = time.monotonic()
            # Capped, so that a process paused for a minute does not move a minute at once.
            dt, last = min(now - last, 1.0), now
            try:
                self.pipeline.step(dt)
            except Exception:  # keep ticking; a bug shows in the log, not as a dead pipeline
                traceback.print_exc(file=sys.stderr)

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=5)


class Simulator:
    """Start, stop, and wire a crashed module's fault to its listening socket."""

    def __init__(self, settings: Settings, wall_start: datetime | None = None) -> None:
        self.settings = settings
        self.pipeline = Pipeline(
            rate=settings.rate,
            seed=settings.seed,
            time_scale=settings.time_scale,
            wall_start=wall_start,
        )
        self.scenarios = ScenarioRunner(self.pipeline)
        self.services = {
            name: Service(
                name,
                settings.host,
                settings.port_of(name),
                module_router(self.pipeline, module),
                token=settings.token,
                access_log=settings.access_log,
            )
            for name, module in self.pipeline.modules.items()
        }
        self.control = Service(
            "control",
            settings.host,
            settings.control_port,
            control_router(self),
            token=settings.token,
            protected=lambda path: path != "/",
            access_log=settings.access_log,
        )
        self.pipeline.on_crash_change(self._on_crash_change)
        self._ticker: Ticker | None = None

    def start(self, tick: bool = True) -> "Simulator":
        """Bind every port (0 picks a free one); with ``tick=False`` tests step by hand."""
        try:
            for service in self.services.values():
                service.start()
            self.control.start()
        except OSError:
            self.stop()
            raise
        if tick:
            self._ticker = Ticker(self.pipeline, self.settings.tick)
            self._ticker.start()
        return self

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.halt()
            self._ticker = None
        for service in [*self.services.values(), self.control]:
            service.stop()

    def urls(self) -> dict[str, str]:
        return {name: s.url for name, s in self.services.items()} | {"control": self.control.url}

    def _on_crash_change(self, name: str, up: bool) -> None:
        service = self.services[name]
        if up:
            service.start()
        else:
            service.stop()

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""Records in flight: runs of consecutive record ids that move through the modules together.

Moving a batch costs the same whether it holds one record or five thousand, which is how the
simulator carries the manual's nominal rates on one core. Every record keeps its own id: a
batch is split, never merged, so a record that ends in the dead letter queue can be named.
"""

from collections import deque
from collections.abc import Iterator


class Batch:
    """Records ``first_id .. first_id + count - 1`` from one source, at one stage."""

    __slots__ = (
        "source",
        "first_id",
        "count",
        "ingested_at",
        "entered_at",
        "service_latency",
        "quality",
        "low_quality",
        "destination",
        "attempts",
    )

    def __init__(self, source: str, first_id: int, count: int, ingested_at: float) -> None:
        self.source = source
        self.first_id = first_id
        self.count = count
        self.ingested_at = ingested_at
        # When the batch entered the queue it is waiting in (queue-wait histograms).
        self.entered_at = ingested_at
        # Modelled processing time added by each module, on top of time spent queued.
        self.service_latency = 0.0
        self.quality = 0.0
        self.low_quality = False
        self.destination = ""
        self.attempts = 0

    def split(self, n: int) -> "Batch":
        """Detach the first ``n`` records into a new batch; this one keeps the rest."""
        if not 0 < n < self.count:
            raise ValueError(f"cannot split {n} records off a batch of {self.count}")
        head = Batch(self.source, self.first_id, n, self.ingested_at)
        head.entered_at = self.entered_at
        head.service_latency = self.service_latency
        head.quality = self.quality
        head.low_quality = self.low_quality
        head.destination = self.destination
        head.attempts = self.attempts
        self.first_id += n
        self.count -= n
        return head

    def record_ids(self) -> range:
        return range(self.first_id, self.first_id + self.count)

    def __repr__(self) -> str:
        return f"Batch({self.source}, {self.first_id}+{self.count})"


class BatchQueue:
    """A FIFO of batches that knows how many records it holds."""

    __slots__ = ("_batches", "depth")

    def __init__(self) -> None:
        self._batches: deque[Batch] = deque()
        self.depth = 0

    def push(self, batch: Batch) -> None:
        if batch.count > 0:
            self._batches.append(batch)
            self.depth += batch.count

    def push_front(self, batch: Batch) -> None:
        if batch.count > 0:
            self._batches.appendleft(batch)
            self.depth += batch.count

    def pop(self, limit: int) -> list[Batch]:
        """Take at most ``limit`` records from the head, splitting the last batch if needed."""
        taken: list[Batch] = []
        while limit > 0 and self._batches:
            head = self._batches[0]
            if head.count <= limit:
                self._batches.popleft()
            else:
                head = head.split(limit)
            taken.append(head)
            limit -= head.count
            self.depth -= head.count
        return taken

    def __iter__(self) -> Iterator[Batch]:
        return iter(self._batches)

    def __len__(self) -> int:
        return self.depth

"""Counting helpers with no Prometheus in them: sliding windows and bulk histograms."""

import math
from collections import deque

_SQRT2 = math.sqrt(2.0)


def normal_cdf(x: float, mean: float, sd: float) -> float:
    if sd <= 0:
        return 1.0 if x >= mean else 0.0
    return 0.5 * (1.0 + math.erf((x - mean) / (sd * _SQRT2)))


def lognormal_cdf(x: float, median: float, sigma: float) -> float:
    if x <= 0:
        return 0.0
    if sigma <= 0:
        return 1.0 if x >= median else 0.0
    return 0.5 * (1.0 + math.erf((math.log(x) - math.log(median)) / (sigma * _SQRT2)))


class RateWindow:
    """Sums of a few values over the last ``span`` simulated seconds, in one-second slots.

    Gauges such as the cache hit rate or the average quality score are ratios over the
    recent past; a window keeps them moving when the ratio changes, unlike a lifetime total.
    """

    def __init__(self, width: int, span: float = 60.0) -> None:
        self.width = width
        self.span = span
        self._slots: deque[list[float]] = deque()

    def add(self, now: float, *values: float) -> None:
        second = math.floor(now)
        if self._slots and self._slots[-1][0] == second:
            slot = self._slots[-1]
        else:
            slot = [float(second)] + [0.0] * self.width
            self._slots.append(slot)
        for i, value in enumerate(values, start=1):
            slot[i] += value
        self._evict(now)

    def totals(self, now: float) -> list[float]:
        self._evict(now)
        sums = [0.0] * self.width
        for slot in self._slots:
            for i in range(self.width):
                sums[i] += slot[i + 1]
        return sums

    def ratio(self, now: float, numerator: int, denominator: int, default: float) -> float:
        sums = self.totals(now)
        return sums[numerator] / sums[denominator] if sums[denominator] > 0 else default

    def _evict(self, now: float) -> None:
        horizon = now - self.span
        while self._slots and self._slots[0][0] < horizon:
            self._slots.popleft()


class BulkHistogram:
    """Bucket counts for many observations at once, drawn from a modelled distribution.

    A batch of n records adds n observations spread over the buckets by the model's
    cumulative distribution, so a histogram costs a few ``erf`` calls per batch instead of
    one observation per record. Counts are kept as floats and rounded when exposed.
    """

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self._cumulative = [0.0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe_lognormal(self, n: int, median: float, sigma: float = 0.35) -> None:
        if n <= 0:
            return
        median = max(median, 1e-6)
        for i, bound in enumerate(self.buckets):
            self._cumulative[i] += n * lognormal_cdf(bound, median, sigma)
        self.count += n
        self.sum += n * median * math.exp(sigma * sigma / 2.0)

    def observe_normal(self, n: int, mean: float, sd: float) -> None:
        if n <= 0:
            return
        for i, bound in enumerate(self.buckets):
            self._cumulative[i] += n * normal_cdf(bound, mean, sd)
        self.count += n
        self.sum += n * mean

    def cumulative_counts(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs, cumulative, ending with +Inf, as Prometheus exposes them."""
        pairs = [
            (_le(bound), float(round(c)))
            for bound, c in zip(self.buckets, self._cumulative, strict=True)
        ]
        pairs.append(("+Inf", float(self.count)))
        return pairs

    def snapshot(self) -> tuple[tuple[float, ...], int]:
        return tuple(self._cumulative), self.count

    def quantile(self, q: float, since: tuple[tuple[float, ...], int] | None = None) -> float:
        """Estimate a quantile as ``histogram_quantile`` does, optionally of what came after
        ``since`` (a ``snapshot()``), so that a spike is not diluted by a long calm past."""
        base, base_count = since if since is not None else ((0.0,) * len(self.buckets), 0)
        cumulative = [c - b for c, b in zip(self._cumulative, base, strict=True)]
        total = self.count - base_count
        if total <= 0:
            return 0.0
        rank = q * total
        lower_bound, lower_count = 0.0, 0.0
        for bound, upto in zip(self.buckets, cumulative, strict=True):
            if upto >= rank:
                span = upto - lower_count
                fraction = (rank - lower_count) / span if span > 0 else 1.0
                return lower_bound + (bound - lower_bound) * fraction
            lower_bound, lower_count = bound, upto
        return self.buckets[-1]


class RecentQuantile:
    """A quantile of a histogram over roughly the last ``span`` seconds, for status pages."""

    def __init__(self, histogram: BulkHistogram, span: float = 60.0, every: float = 5.0) -> None:
        self.histogram = histogram
        self.span = span
        self.every = every
        self._marks: deque[tuple[float, tuple[tuple[float, ...], int]]] = deque()

    def update(self, now: float) -> None:
        if not self._marks or now - self._marks[-1][0] >= self.every:
            self._marks.append((now, self.histogram.snapshot()))
        while len(self._marks) > 1 and now - self._marks[1][0] >= self.span:
            self._marks.popleft()

    def value(self, q: float) -> float:
        since = self._marks[0][1] if self._marks else None
        return self.histogram.quantile(q, since)


def _le(bound: float) -> str:
    return repr(float(bound))

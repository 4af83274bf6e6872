"""A PromQL subset evaluated over the console's own metric store.

The manuals write thresholds and alert conditions in PromQL (001 "Alert Definitions"), so the
console speaks it: `promql-parser` parses, this module evaluates. Supported:
- selectors with `=`, `!=`, `=~`, `!~` matchers, `[range]`, `offset`;
- rate, irate, increase, delta, idelta, {avg,min,max,sum,count,last}_over_time,
  histogram_quantile, abs, clamp_min, clamp_max, absent, time, vector, scalar;
- sum, avg, min, max, count with `by`/`without`;
- + - * / % ^, comparisons (with or without `bool`), and/or/unless, one-to-one vector
  matching with `on`/`ignoring`.
Semantics follow Prometheus, with one simplification: rate/increase are computed from the
first and last samples in the range (counter resets handled), without Prometheus's
extrapolation to the range's edges. An instant selector takes the newest sample in the last
5 minutes (Prometheus's lookback).
"""

import bisect
import math
import operator
import re
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import promql_parser as pp

LOOKBACK = timedelta(minutes=5)

Labels = tuple[tuple[str, str], ...]
Points = list[tuple[float, float]]  # (unix seconds, value), ascending


class PromQLError(ValueError):
    """The expression cannot be parsed or uses something this evaluator does not support."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # "=", "!=", "=~", "!~"
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    """What an expression reads: a metric name and its matchers."""

    name: str
    matchers: tuple[Matcher, ...]
    range_seconds: float = 0.0
    offset_seconds: float = 0.0


class Source(ABC):
    """Where samples come from; `select` returns each matching series with its points in
    [start, end] (unix seconds)."""

    @abstractmethod
    def select(self, selector: Selector, start: float, end: float) -> list[tuple[Labels, Points]]:
        """Each series matching `selector`, with its points in [start, end]."""


@dataclass
class MemorySource(Source):
    """Series held in memory: tests, and data preloaded once for a range query."""

    series: dict[Labels, Points] = field(default_factory=dict)

    def add(self, labels: dict[str, str], points: Iterable[tuple[float, float]]) -> None:
        key = tuple(sorted(labels.items()))
        self.series.setdefault(key, []).extend(points)
        self.series[key].sort()

    def select(self, selector, start, end):
        found = []
        for labels, points in self.series.items():
            as_dict = dict(labels)
            if as_dict.get("__name__") != selector.name:
                continue
            if not all(m.matches(as_dict) for m in selector.matchers):
                continue
            times = [t for t, _ in points]
            lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
            found.append((labels, points[lo:hi]))
        return found


Vector = dict[Labels, float]
Value = float | Vector


def parse(text: str):
    try:
        return pp.parse(text)
    except (ValueError, RuntimeError) as exc:
        raise PromQLError(str(exc)) from None


def selectors(text_or_ast) -> list[Selector]:
    """Every selector an expression reads (for preloading a range query's data)."""
    node = parse(text_or_ast) if isinstance(text_or_ast, str) else text_or_ast
    found: list[Selector] = []
    _collect(node, found)
    return found


def _collect(node, found: list[Selector]) -> None:
    kind = type(node).__name__
    if kind == "VectorSelector":
        found.append(_selector(node))
    elif kind == "MatrixSelector":
        base = _selector(node.vector_selector)
        found.append(
            Selector(base.name, base.matchers, node.range.total_seconds(), base.offset_seconds)
        )
    elif kind == "Call":
        for arg in node.args:
            _collect(arg, found)
    elif kind == "AggregateExpr":
        _collect(node.expr, found)
    elif kind == "BinaryExpr":
        _collect(node.lhs, found)
        _collect(node.rhs, found)
    elif kind in ("ParenExpr", "UnaryExpr"):
        _collect(node.expr, found)


_MATCH_OPS = {
    "MatchOp.Equal": "=",
    "MatchOp.NotEqual": "!=",
    "MatchOp.Re": "=~",
    "MatchOp.NotRe": "!~",
}


def _selector(node) -> Selector:
    name = node.name
    matchers = []
    for m in node.matchers.matchers:
        if m.name == "__name__" and str(m.op) == "MatchOp.Equal":
            name = m.value
            continue
        matchers.append(Matcher(m.name, _MATCH_OPS[str(m.op)], m.value))
    if node.matchers.or_matchers:
        raise PromQLError("'or' inside a selector is not supported")
    if not name:
        raise PromQLError("a selector needs a metric name")
    if node.at is not None:
        raise PromQLError("the @ modifier is not supported")
    offset = node.offset.total_seconds() if node.offset is not None else 0.0
    return Selector(name, tuple(matchers), 0.0, offset)


class Evaluator:
    """Evaluates one parsed expression at given instants against a Source.

    `scope` adds equality matchers to every selector (e.g. {"module": "gamma"}), which is how a
    module-scoped threshold written once applies to each module of its kind.
    """

    def __init__(self, text: str, source: Source, scope: dict[str, str] | None = None):
        self.text = text
        self.ast = parse(text)
        self.source = source
        self.scope = tuple(Matcher(k, "=", v) for k, v in sorted((scope or {}).items()))

    def at(self, when: datetime) -> Value:
        self.now = when.timestamp()
        return self._eval(self.ast)

    # --- nodes -------------------------------------------------------------------------------
    def _eval(self, node) -> Value:
        kind = type(node).__name__
        handler = getattr(self, f"_eval_{kind}", None)
        if handler is None:
            raise PromQLError(f"{kind} is not supported")
        return handler(node)

    def _eval_NumberLiteral(self, node) -> float:
        return float(node.val)

    def _eval_ParenExpr(self, node) -> Value:
        return self._eval(node.expr)

    def _eval_UnaryExpr(self, node) -> Value:
        value = self._eval(node.expr)
        if isinstance(value, dict):
            return {_drop_name(k): -v for k, v in value.items()}
        return -value

    def _scoped(self, selector: Selector) -> Selector:
        return Selector(
            selector.name,
            selector.matchers + self.scope,
            selector.range_seconds,
            selector.offset_seconds,
        )

    def _eval_VectorSelector(self, node) -> Vector:
        sel = self._scoped(_selector(node))
        end = self.now - sel.offset_seconds
        result: Vector = {}
        for labels, points in self.source.select(sel, end - LOOKBACK.total_seconds(), end):
            if points:
                result[labels] = points[-1][1]
        return result

    def _matrix(self, node) -> list[tuple[Labels, Points]]:
        if type(node).__name__ != "MatrixSelector":
            raise PromQLError("this function needs a range vector, e.g. metric[5m]")
        base = _selector(node.vector_selector)
        sel = self._scoped(
            Selector(base.name, base.matchers, node.range.total_seconds(), base.offset_seconds)
        )
        end = self.now - sel.offset_seconds
        # Prometheus ranges are left-open: (end - range, end].
        series = self.source.select(sel, end - sel.range_seconds, end)
        start = end - sel.range_seconds
        return [(labels, [p for p in points if p[0] > start]) for labels, points in series]

    def _eval_MatrixSelector(self, node):
        raise PromQLError("a range vector must be passed to a function such as rate()")

    def _eval_Call(self, node) -> Value:
        name = node.func.name
        args = node.args
        if name in _RANGE_FUNCTIONS:
            fn = _RANGE_FUNCTIONS[name]
            result: Vector = {}
            for labels, points in self._matrix(args[0]):
                value = fn(points)
                if value is not None:
                    result[_drop_name(labels)] = value
            return result
        if name == "histogram_quantile":
            return _histogram_quantile(self._number(args[0]), self._vector(args[1]))
        if name in ("abs", "ceil", "floor", "exp", "sqrt", "ln", "log10"):
            fn = {
                "abs": abs,
                "ceil": math.ceil,
                "floor": math.floor,
                "exp": math.exp,
                "sqrt": math.sqrt,
                "ln": math.log,
                "log10": math.log10,
            }[name]
            return {_drop_name(k): float(fn(v)) for k, v in self._vector(args[0]).items()}
        if name in ("clamp_min", "clamp_max"):
            bound = self._number(args[1])
            pick = max if name == "clamp_min" else min
            return {_drop_name(k): pick(v, bound) for k, v in self._vector(args[0]).items()}
        if name == "absent":
            return {} if self._vector(args[0]) else {(): 1.0}
        if name == "time":
            return self.now
        if name == "vector":
            return {(): self._number(args[0])}
        if name == "scalar":
            vector = self._vector(args[0])
            return next(iter(vector.values())) if len(vector) == 1 else math.nan
        raise PromQLError(f"function {name}() is not supported")

    def _number(self, node) -> float:
        value = self._eval(node)
        if isinstance(value, dict):
            raise PromQLError("expected a number, got a vector")
        return value

    def _vector(self, node) -> Vector:
        value = self._eval(node)
        if not isinstance(value, dict):
            raise PromQLError("expected a vector, got a number")
        return value

    def _eval_AggregateExpr(self, node) -> Vector:
        op = str(node.op)
        if op not in _AGGREGATIONS:
            raise PromQLError(f"aggregation {op} is not supported")
        vector = self._vector(node.expr)
        modifier = node.modifier
        groups: dict[Labels, list[float]] = defaultdict(list)
        for labels, value in vector.items():
            groups[_group_key(labels, modifier)].append(value)
        return {key: _AGGREGATIONS[op](values) for key, values in groups.items()}

    def _eval_BinaryExpr(self, node) -> Value:
        op = str(node.op)
        lhs, rhs = self._eval(node.lhs), self._eval(node.rhs)
        modifier = node.modifier
        return_bool = bool(modifier and modifier.return_bool)
        if op in ("and", "or", "unless"):
            return _set_op(op, _as_vector(lhs), _as_vector(rhs), modifier)
        fn = _ARITHMETIC.get(op) or _COMPARISON.get(op)
        if fn is None:
            raise PromQLError(f"operator {op} is not supported")
        comparison = op in _COMPARISON
        if not isinstance(lhs, dict) and not isinstance(rhs, dict):
            result = fn(lhs, rhs)
            return float(result) if comparison else result
        if isinstance(lhs, dict) and isinstance(rhs, dict):
            pairs = _match(lhs, rhs, modifier)
        elif isinstance(lhs, dict):
            pairs = [(k, v, rhs, _drop_name(k) if not comparison else k) for k, v in lhs.items()]
        else:
            pairs = [(k, lhs, v, _drop_name(k) if not comparison else k) for k, v in rhs.items()]
        result: Vector = {}
        for _, left, right, out in pairs:
            if comparison:
                hit = fn(left, right)
                if return_bool:
                    result[_drop_name(out)] = float(hit)
                elif hit:
                    result[out] = left if isinstance(lhs, dict) else right
            else:
                result[out] = fn(left, right)
        return result


def _drop_name(labels: Labels) -> Labels:
    return tuple(item for item in labels if item[0] != "__name__")


def _as_vector(value: Value) -> Vector:
    if not isinstance(value, dict):
        raise PromQLError("and/or/unless need vectors on both sides")
    return value


def _group_key(labels: Labels, modifier) -> Labels:
    if modifier is None:
        return ()
    names = set(modifier.labels)
    if str(modifier.type) == "AggModifierType.By":
        return tuple(item for item in labels if item[0] in names)
    return tuple(item for item in labels if item[0] not in names and item[0] != "__name__")


def _match_key(labels: Labels, modifier) -> Labels:
    matching = modifier.matching if modifier is not None else None
    labels = _drop_name(labels)
    if matching is None:
        return labels
    names = set(matching.labels)
    if str(matching.type) == "LabelModifierType.Include":  # on(...)
        return tuple(item for item in labels if item[0] in names)
    return tuple(item for item in labels if item[0] not in names)  # ignoring(...)


def _match(lhs: Vector, rhs: Vector, modifier) -> list[tuple[Labels, float, float, Labels]]:
    """One-to-one matching: pair series whose labels agree (on/ignoring applied)."""
    right: dict[Labels, float] = {}
    for labels, value in rhs.items():
        key = _match_key(labels, modifier)
        if key in right:
            raise PromQLError(
                "many-to-one matching is not supported (duplicate series on the right)"
            )
        right[key] = value
    pairs = []
    for labels, value in lhs.items():
        key = _match_key(labels, modifier)
        if key in right:
            pairs.append((labels, value, right[key], _match_key(labels, modifier)))
    return pairs


def _set_op(op: str, lhs: Vector, rhs: Vector, modifier) -> Vector:
    right_keys = {_match_key(k, modifier) for k in rhs}
    if op == "and":
        return {k: v for k, v in lhs.items() if _match_key(k, modifier) in right_keys}
    if op == "unless":
        return {k: v for k, v in lhs.items() if _match_key(k, modifier) not in right_keys}
    left_keys = {_match_key(k, modifier) for k in lhs}
    merged = dict(lhs)
    merged.update({k: v for k, v in rhs.items() if _match_key(k, modifier) not in left_keys})
    return merged


def _div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _div,
    "%": lambda a, b: math.fmod(a, b) if b else math.nan,
    "^": operator.pow,
}
_COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}
_AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "sum": sum,
    "avg": lambda values: sum(values) / len(values),
    "min": min,
    "max": max,
    "count": lambda values: float(len(values)),
}


def _increase(points: Points) -> float | None:
    """Counter increase across the points, a drop counting as a reset to zero."""
    if len(points) < 2:
        return None
    total = 0.0
    previous = points[0][1]
    for _, value in points[1:]:
        total += value - previous if value >= previous else value
        previous = value
    return total


def _rate(points: Points) -> float | None:
    increase = _increase(points)
    if increase is None:
        return None
    span = points[-1][0] - points[0][0]
    return increase / span if span > 0 else None


def _irate(points: Points) -> float | None:
    if len(points) < 2:
        return None
    (t0, v0), (t1, v1) = points[-2], points[-1]
    delta = v1 - v0 if v1 >= v0 else v1
    return delta / (t1 - t0) if t1 > t0 else None


def _delta(points: Points) -> float | None:
    return points[-1][1] - points[0][1] if len(points) >= 2 else None


def _idelta(points: Points) -> float | None:
    return points[-1][1] - points[-2][1] if len(points) >= 2 else None


def _over_time(fn: Callable[[list[float]], float]) -> Callable[[Points], float | None]:
    return lambda points: fn([v for _, v in points]) if points else None


_RANGE_FUNCTIONS: dict[str, Callable[[Points], float | None]] = {
    "rate": _rate,
    "irate": _irate,
    "increase": _increase,
    "delta": _delta,
    "idelta": _idelta,
    "avg_over_time": _over_time(lambda v: sum(v) / len(v)),
    "min_over_time": _over_time(min),
    "max_over_time": _over_time(max),
    "sum_over_time": _over_time(sum),
    "count_over_time": _over_time(lambda v: float(len(v))),
    "last_over_time": _over_time(lambda v: v[-1]),
}


def _histogram_quantile(q: float, buckets: Vector) -> Vector:
    """Prometheus's algorithm: find the bucket holding rank q×total, interpolate linearly."""
    groups: dict[Labels, list[tuple[float, float]]] = defaultdict(list)
    for labels, count in buckets.items():
        le = dict(labels).get("le")
        if le is None:
            continue
        key = tuple(item for item in _drop_name(labels) if item[0] != "le")
        groups[key].append((math.inf if le in ("+Inf", "Inf") else float(le), count))
    result: Vector = {}
    for key, bounds in groups.items():
        bounds.sort()
        if q < 0 or q > 1:
            result[key] = -math.inf if q < 0 else math.inf
            continue
        if len(bounds) < 2 or bounds[-1][0] != math.inf:
            result[key] = math.nan
            continue
        # Cumulative counts can dip through float noise of rate(); keep them monotonic.
        for i in range(1, len(bounds)):
            if bounds[i][1] < bounds[i - 1][1]:
                bounds[i] = (bounds[i][0], bounds[i - 1][1])
        total = bounds[-1][1]
        if total == 0:
            result[key] = math.nan
            continue
        rank = q * total
        index = next(i for i, (_, count) in enumerate(bounds) if count >= rank)
        if index == len(bounds) - 1:
            result[key] = bounds[-2][0]
            continue
        upper, upper_count = bounds[index]
        lower, lower_count = (0.0, 0.0) if index == 0 else bounds[index - 1]
        if index == 0 and upper <= 0:
            result[key] = upper
            continue
        span = upper_count - lower_count
        result[key] = lower + (upper - lower) * ((rank - lower_count) / span if span else 0)
    return result


def single(value: Value) -> float | None:
    """One number from a result: a scalar, or a vector's only element (None if empty/NaN)."""
    if isinstance(value, dict):
        if len(value) != 1:
            return None
        value = next(iter(value.values()))
    return None if value is None or math.isnan(value) else float(value)

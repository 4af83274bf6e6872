"""Properties of the metrics parser (monitoring.poller.parse_metrics), the only code that reads
what a module sends: whatever the body, a poll either yields samples or fails with a reason
(PollError) — never another exception, which would kill the worker's batch — and well-formed
Prometheus text comes back exactly as written."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.poller import PollError, parse_metrics

from .conftest import FUZZ_SETTINGS

pytestmark = pytest.mark.slow

URL = "http://alpha:8081/metrics"
TEXT = "text/plain; version=0.0.4"

# Names the text format allows, minus the suffixes the parser folds into their family
# (_total, _count, _sum, _bucket, _created, _info): a gauge's samples carry its own name.
metric_names = st.from_regex(r"\A[a-zA-Z_:][a-zA-Z0-9_:]{0,20}\Z").filter(
    lambda n: not n.endswith(("_total", "_count", "_sum", "_bucket", "_created", "_info"))
)
label_names = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9_]{0,10}\Z")
label_values = st.text(max_size=20)
values = st.floats(allow_nan=False, width=64)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


families = st.dictionaries(
    metric_names,
    st.dictionaries(
        st.frozensets(st.tuples(label_names, label_values), max_size=3).filter(
            lambda pairs: len({name for name, _ in pairs}) == len(pairs)
        ),
        values,
        min_size=1,
        max_size=3,
    ),
    min_size=1,
    max_size=4,
)


def _render(families: dict) -> str:
    lines = []
    for name, series in families.items():
        lines += [f"# HELP {name} Fuzzed.", f"# TYPE {name} gauge"]
        for labels, value in series.items():
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels))
            lines.append(f"{name}{{{text}}} {_format(value)}")
    return "\n".join(lines) + "\n"


@FUZZ_SETTINGS
@given(families)
def test_metrics_parser_reads_back_what_was_written(families):
    samples = parse_metrics(200, TEXT, _render(families).encode(), URL)
    expected = sorted(
        (name, sorted(labels), value, "gauge")
        for name, series in families.items()
        for labels, value in series.items()
    )
    got = sorted(
        (name, sorted(labels.items()), value, kind) for name, labels, value, kind in samples
    )
    assert got == expected


# Lines that are each nearly right: a valid sample line with a piece cut out or a random
# piece put in, comments, and plain junk.
sample_lines = st.builds(
    lambda name, labels, value: f"{name}{{{labels}}} {value}",
    metric_names,
    st.text(alphabet='a="\\,}{ \n', max_size=12),
    st.one_of(st.floats().map(repr), st.text(max_size=6)),
)
comment_lines = st.builds(
    lambda kind, name, rest: f"# {kind} {name} {rest}",
    st.sampled_from(["TYPE", "HELP", "UNIT", "EOF", ""]),
    metric_names,
    st.one_of(st.sampled_from(["counter", "gauge", "histogram", "summary", "info"]), st.text()),
)
lines = st.one_of(sample_lines, comment_lines, st.text(max_size=30))


@FUZZ_SETTINGS
@given(st.lists(lines, max_size=8).map("\n".join), st.sampled_from([TEXT, "text/plain"]))
def test_metrics_parser_yields_samples_or_a_poll_error(text, content_type):
    try:
        samples = parse_metrics(200, content_type, text.encode("utf-8", "replace"), URL)
    except PollError as exc:
        assert str(exc).startswith(URL)
        return
    for name, labels, value, _kind in samples:
        assert isinstance(name, str) and isinstance(labels, dict)
        assert isinstance(value, float) and not math.isnan(value)


@FUZZ_SETTINGS
@given(st.binary(max_size=200))
def test_metrics_parser_never_raises_on_raw_bytes(body):
    try:
        parse_metrics(200, TEXT, body, URL)
    except PollError:
        pass


@FUZZ_SETTINGS
@given(
    st.integers(100, 599).filter(lambda s: s != 200),
    st.text(max_size=30).filter(lambda t: not t.startswith(("text/plain", "application/openm"))),
)
def test_metrics_parser_refuses_a_bad_status_or_content_type(status, content_type):
    body = b"up 1\n"
    try:
        parse_metrics(status, TEXT, body, URL)
    except PollError as exc:
        assert exc.http_status == status
    else:
        raise AssertionError(f"HTTP {status} was accepted")
    try:
        parse_metrics(200, content_type, body, URL)
    except PollError as exc:
        assert "not Prometheus text" in str(exc)
    else:
        raise AssertionError(f"{content_type!r} was accepted")

"""bench/run_all.py's reading of the scripts' BENCH_JSON lines and its table (the benches
themselves never run in `make test`)."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def run_all():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_run_all", BENCH / "run_all.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def _line(**record) -> str:
    import json

    return "BENCH_JSON " + json.dumps(record)


def test_parse_keeps_records_and_skips_noise(run_all):
    output = "\n".join(
        [
            "starting the stack ...",
            _line(name="p95", value=120.0, unit="ms", target=300, floor=40.0, better="lower"),
            "BENCH_JSON {not json",
            "BENCH_JSON [1, 2]",
            _line(value=3),  # no name
            "  BENCH_JSON " + '{"name": "indented", "value": 1}',  # not at the line start
            _line(name="rate", value=250, unit="req/s", target=200, floor=None),
        ]
    )
    records = run_all.parse(output)
    assert [r["name"] for r in records] == ["p95", "rate"]


@pytest.mark.parametrize(
    ("record", "met", "ratio"),
    [
        ({"name": "a", "value": 120, "target": 300, "floor": 40, "better": "lower"}, True, 3.0),
        ({"name": "b", "value": 301, "target": 300, "better": "lower"}, False, None),
        ({"name": "c", "value": 250, "target": 200, "floor": 1000}, True, 0.25),
        ({"name": "d", "value": 150, "target": 200}, False, None),
        ({"name": "e", "value": 5, "target": None, "floor": 0}, None, None),
        ({"name": "f", "value": None, "target": 1}, None, None),
    ],
)
def test_met_and_ratio(run_all, record, met, ratio):
    assert run_all.met(record) is met
    assert run_all.ratio(record) == ratio


def test_table_has_a_row_per_figure(run_all):
    rows = [
        ("pages_load.py", {"name": "Overview p95, c=50", "value": 412.0, "unit": "ms",
                           "target": 300, "floor": 103.0, "better": "lower"}),
        ("monitoring_poller.py", {"name": "poll throughput", "value": 1234.5,
                                  "unit": "polls/s", "target": 200, "floor": 2469.0}),
        ("war_room.py", {"name": "(no figure: exit 1)", "value": None}),
    ]  # fmt: skip
    lines = run_all.table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[0].split() == ["script", "figure", "value", "target", "met", "floor", "×floor"]
    overview, poller, failed = lines[2:]
    assert "pages_load" in overview and "412 ms" in overview and "≤ 300 ms" in overview
    assert " NO " in overview and "4.00" in overview
    assert "1,234 polls/s" in poller and "≥ 200 polls/s" in poller and " yes " in poller
    assert "0.50" in poller
    assert "(no figure: exit 1)" in failed and failed.split()[-1] == "—"

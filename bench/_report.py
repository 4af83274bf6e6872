"""The one machine-readable line every bench prints per figure, read by bench/run_all.py:

    BENCH_JSON {"name": ..., "value": ..., "unit": ..., "target": ..., "floor": ...,
                "better": "higher" | "lower", "note": ...}

`target` is the figure the issues ask for (None: reported only); `floor` is the same quantity
measured in the same run for the cheapest thing that does the same kind of work (a trivial
authenticated view on the same server, a bare loop of HTTP GETs), so the ratio shows how much
of the figure is ours."""

import json

PREFIX = "BENCH_JSON "


def emit(
    name: str,
    value: float,
    unit: str,
    target: float | None = None,
    floor: float | None = None,
    better: str = "higher",
    note: str = "",
) -> None:
    assert better in ("higher", "lower"), better
    record = {
        "name": name,
        "value": round(float(value), 4),
        "unit": unit,
        "target": target,
        "floor": None if floor is None else round(float(floor), 4),
        "better": better,
        "note": note,
    }
    print(PREFIX + json.dumps(record), flush=True)

"""Where a press's time goes inside the hub, from its Prometheus histograms (`/metrics`).

The hub times each press in each stage of its path (`chuong_press_stage_seconds{stage}`: wait,
plan, commit, ack, fanout, total), the COMMIT statement alone (`chuong_store_commit_statement_
seconds`: the WAL's fsync), its WAL checkpoints and how late a 10 ms timer of its event loop
fires (`chuong_loop_lag_seconds`). The benchmark reads them before and after a phase and reports
the difference: for each, the count and the p50 / p99 / max as the upper bound of the histogram
bucket they fall in (a histogram keeps no exact values). So the tail of press → alarm can be put
down to a stage: a held loop shows as `wait` and loop lag, a slow disk as `commit` and the
COMMIT statement.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

HISTOGRAMS: Final = {
    "chuong_press_stage_seconds": "stage",
    "chuong_store_commit_statement_seconds": None,
    "chuong_store_checkpoint_seconds": None,
    "chuong_loop_lag_seconds": None,
}
_BUCKET_RE: Final = re.compile(r"^(\w+)_bucket\{(.*)\} (\S+)$")
_LABEL_RE: Final = re.compile(r'(\w+)="([^"]*)"')

Buckets = dict[str, dict[float, float]]
"""series name (`chuong_loop_lag_seconds`, `chuong_press_stage_seconds:commit`) → le → count"""


def parse(text: str) -> Buckets:
    """The cumulative bucket counts of the histograms above, from a `/metrics` page."""
    found: Buckets = {}
    for line in text.splitlines():
        match = _BUCKET_RE.match(line)
        if not match or match.group(1) not in HISTOGRAMS:
            continue
        name, labels = match.group(1), dict(_LABEL_RE.findall(match.group(2)))
        label = HISTOGRAMS[name]
        series = f"{name}:{labels[label]}" if label else name
        found.setdefault(series, {})[float(labels["le"])] = float(match.group(3))
    return found


@dataclass(frozen=True, slots=True)
class Spread:
    """Milliseconds, each the upper bound of the bucket the value falls in (inf: past the
    last)."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def _bound(cumulative: list[tuple[float, float]], rank: float) -> float:
    for le, count in cumulative:
        if count >= rank:
            return le
    return math.inf


def spread(before: Mapping[float, float], after: Mapping[float, float]) -> Spread | None:
    """The spread of what was observed between two readings of one histogram."""
    cumulative = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = cumulative[-1][1] if cumulative else 0.0
    if total <= 0:
        return None

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 3) if math.isfinite(seconds) else math.inf

    return Spread(
        count=int(total),
        p50_ms=ms(_bound(cumulative, math.ceil(0.50 * total))),
        p99_ms=ms(_bound(cumulative, math.ceil(0.99 * total))),
        max_ms=ms(_bound(cumulative, total)),
    )


def between(before: Buckets, after: Buckets) -> dict[str, Spread]:
    """Every series observed between the two readings, by short name (`commit`, `loop_lag`)."""
    spreads: dict[str, Spread] = {}
    for series, buckets in after.items():
        found = spread(before.get(series, {}), buckets)
        if found is not None:
            spreads[_short(series)] = found
    return spreads


def _short(series: str) -> str:
    if ":" in series:
        return series.split(":", 1)[1]
    return series.removeprefix("chuong_").removesuffix("_seconds").removeprefix("store_")

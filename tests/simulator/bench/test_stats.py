"""Percentiles and /proc readings of the benchmark."""

from __future__ import annotations

import os

import pytest

from simulator.bench.stats import (
    Latency,
    LoadMeter,
    ProcSample,
    cpu_percent,
    machine_busy_s,
    percentile,
)


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..100 is 50, p99 is 99, p100 is the maximum; one value is every percentile."""
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_latency_in_milliseconds_from_unsorted_seconds() -> None:
    """Samples in seconds, in any order, become p50/p99/max in milliseconds."""
    samples = [0.003, 0.001, 0.002] + [0.0015] * 97
    latency = Latency.of(samples)
    assert latency == Latency(count=100, p50_ms=1.5, p99_ms=2.0, max_ms=3.0)
    assert Latency.of([]) is None


def _burn_until_counted(first: ProcSample) -> ProcSample:
    """Burn CPU until the kernel has counted at least two ticks of it for this process (on a
    loaded machine a fixed wall-clock time may get no CPU at all)."""
    while True:
        sum(range(1000))
        last = ProcSample.read(first_pid := os.getpid())
        if last.cpu_s >= first.cpu_s + 0.02:
            return last
        assert last.at - first.at < 120, f"process {first_pid} got no CPU in two minutes"


def test_proc_sample_of_this_process() -> None:
    """Reading /proc of a live process gives its CPU time and a plausible resident size; burning
    CPU between two readings shows as a positive percentage."""
    first = ProcSample.read(os.getpid())
    last = _burn_until_counted(first)
    assert last.cpu_s >= first.cpu_s
    assert 1 << 20 < last.rss_bytes < 1 << 40
    assert cpu_percent(first, last) > 0
    assert cpu_percent(first, first) == 0


def test_load_meter_splits_the_machine_between_processes() -> None:
    """Measured on this process standing in for hub, broker and bench: what it burns is counted
    (three times, once per role), the machine is at least as busy as that, and nothing is
    negative."""
    pid = os.getpid()
    meter = LoadMeter(pid, pid).start()
    busy = machine_busy_s()
    _burn_until_counted(ProcSample.read(pid))
    # The machine's counter (/proc/stat) is kept apart from the process's and may lag it by a
    # tick: burn on until it has moved too (a fresh machine's CI once read 0 after 11 ms).
    while machine_busy_s() <= busy:
        sum(range(1000))
    load = meter.stop(extra_cpu_s=0.0)
    assert load.hub > 0
    assert load.hub == load.broker
    assert load.bench >= load.hub
    assert load.others >= 0
    assert load.machine > 0

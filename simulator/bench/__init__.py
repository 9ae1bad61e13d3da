"""`chuong sim bench`: the hub's latency, throughput, supervision load and restart time, measured
in one run against the floor (see docs/BENCHMARKS.md and `runner.py` for the phases)."""

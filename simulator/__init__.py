"""Virtual call buttons with real MQTT connections: a library for tests, `chuong sim` for people,
and the load generator for the benchmarks."""

"""The hub's domain: records, the open-alarm state, the event bus, the inbound message types,
and the pure decisions (dedup and correlation, the alarm state machine, authenticity). No I/O."""

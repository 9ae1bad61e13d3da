"""The simulator's broker `shipped=True` runs the post's persistence, queue and latency settings
exactly as config/mosquitto/mosquitto.conf writes them (the benchmark's "as shipped" broker)."""

from __future__ import annotations

from pathlib import Path

from simulator.broker import SHIPPED_CONFIG, SHIPPED_KEYS, Mosquitto, port_open


def test_the_shipped_settings_are_taken_from_the_shipped_file(tmp_path: Path) -> None:
    """Every setting of those keys in the post's file, and no other value for them; the broker
    starts with them, saves at exit (SIGTERM) and keeps its persistence file."""
    shipped = [
        line
        for line in SHIPPED_CONFIG.read_text().splitlines()
        if line.split(" ", 1)[0] in SHIPPED_KEYS
    ]
    assert "autosave_on_changes false" in shipped
    assert "queue_qos0_messages true" in shipped
    broker = Mosquitto(tmp_path / "b", shipped=True)
    written = broker.write_config().read_text().splitlines()
    ours = [line for line in written if line.split(" ", 1)[0] in SHIPPED_KEYS]
    assert ours == shipped
    assert f"persistence_location {tmp_path / 'b'}/" in written
    broker.start()
    try:
        assert port_open(broker.host, broker.port)
    finally:
        broker.stop()
    assert (tmp_path / "b" / "mosquitto.db").exists()

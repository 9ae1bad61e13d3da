"""The benchmark's report: the targets of issue 7 checked against the results, a table for people.

Every figure in the table is also in the JSON, with the machine it was measured on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    figure: str
    limit: str
    met: bool | None
    """None: not measured in this run"""


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


def _press_targets(path: dict[str, Any]) -> list[Target]:
    found: list[Target] = []
    suffix = f" (broker {path['broker']})"
    alarm_p99 = _get(path, "latency", "alarm", "latency", "p99_ms")
    floor_p99 = _get(path, "floor", "latency", "p99_ms")
    if alarm_p99 is not None:
        rate = path["latency"]["rate"]
        name = f"press → alarm p99 at {rate:g}/s{suffix}"
        found.append(Target(name, f"{alarm_p99:.2f} ms", "≤ 5 ms", alarm_p99 <= 5))
        if floor_p99:
            ratio = alarm_p99 / floor_p99
            name = f"press → alarm p99 / broker hop p99{suffix}"
            found.append(Target(name, f"{ratio:.1f} x", "≤ 10 x", ratio <= 10))
    throughput = path.get("throughput")
    if throughput is not None:
        best = throughput["best_sustained_rate"]
        lost = throughput["lost"] + throughput["doubled"]
        figure = "none sustained" if best is None else f"{best:,.0f}/s"
        figure += f", {lost} lost or doubled"
        met = best is not None and best >= 10_000 and lost == 0
        name = f"durable presses a second, 0 lost{suffix}"
        found.append(Target(name, figure, "≥ 10,000/s", met))
    return found


def targets(results: dict[str, Any]) -> list[Target]:
    """The targets of issue 7, each with this run's figure."""
    found: list[Target] = []
    for path in results.get("press_path", []):
        if path.get("store", "sqlite") == "sqlite":  # the targets are the shipped post's
            found += _press_targets(path)
    sup = results.get("supervision")
    if sup is not None:
        found.append(
            Target(
                f"{sup['buttons']:,} buttons supervised: hub CPU",
                f"{sup['hub_cpu_percent']:.1f} % of a core",
                "< 20 %",
                sup["hub_cpu_percent"] < 20,
            )
        )
        found.append(
            Target(
                f"{sup['buttons']:,} buttons supervised: hub RSS",
                f"{sup['hub_rss_mib_max']:.0f} MiB",
                "< 300 MB",
                sup["hub_rss_mib_max"] * 2**20 < 300e6,
            )
        )
    history = _get(results, "restart", "history")
    if history is not None:
        worst = max(history["ready_s"])
        found.append(
            Target(
                f"ready after start, {history['events']:,} events stored",
                f"{worst:.2f} s (worst of {len(history['ready_s'])})",
                "≤ 2 s",
                worst <= 2,
            )
        )
    idle = results.get("idle")
    if idle is not None:
        found.append(
            Target(
                f"RSS of an idle commune hub ({idle['buttons']} buttons)",
                f"{idle['hub_rss_mib']:.0f} MiB",
                "≤ 150 MB",
                idle["hub_rss_mib"] * 2**20 <= 150e6,
            )
        )
    return found


def with_targets(report: dict[str, Any]) -> dict[str, Any]:
    return {**report, "targets": [asdict(t) for t in targets(report["results"])]}


def _lat(result: dict[str, Any] | None) -> str:
    if not result or result.get("latency") is None:
        return "no samples"
    lat = result["latency"]
    missing = f", {result['missing']} missing" if result.get("missing") else ""
    return (
        f"p50 {lat['p50_ms']:.2f}  p99 {lat['p99_ms']:.2f}  max {lat['max_ms']:.2f} ms "
        f"(n={lat['count']}{missing})"
    )


def _load(result: dict[str, Any]) -> str:
    load = result.get("load")
    if not load:
        return ""
    return (
        f"  [CPU %: hub {load['hub']:.0f}, broker {load['broker']:.0f}, "
        f"bench {load['bench']:.0f}, others {load['others']:.0f}; "
        f"hub waiting for a core {load.get('hub_waiting', 0):.0f}]"
    )


_STAGE_ORDER = (
    "wait",
    "plan",
    "commit",
    "ack",
    "fanout",
    "total",
    "commit_statement",
    "checkpoint",
    "loop_lag",
)


def _ms(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:g}"


def _stage_lines(found: dict[str, Any]) -> list[str]:
    """Where the time went inside the hub (simulator/bench/stages.py): bucket bounds, in ms."""
    if not found:
        return []
    lines = ["  inside the hub (ms, ≤ histogram bucket bound: p50 / p99 / max, n)"]
    for name in sorted(found, key=lambda n: (*_STAGE_ORDER, n).index(n)):
        s = found[name]
        lines.append(
            f"    {name:<17} {_ms(s['p50_ms']):>6} / {_ms(s['p99_ms']):>6} / "
            f"{_ms(s['max_ms']):>6}  (n={s['count']})"
        )
    return lines


def _press_path_lines(path: dict[str, Any]) -> list[str]:
    lines = [f"press path, broker {path['broker']}, store {path.get('store', 'sqlite')}"]
    if "ready_new_store_s" in path:
        lines.append(f"  ready, new store           {path['ready_new_store_s']:.2f} s")
    if "floor" in path:
        lines.append(f"  broker hop (floor)         {_lat(path['floor'])}{_load(path['floor'])}")
    if "disk_floor" in path:
        disk = path["disk_floor"]
        size = f"{disk['frames']} x {disk['frame_bytes']} B"
        lines.append(f"  disk ({size}, {disk['sync']}) {_lat(disk)}{_load(disk)}")
    if "latency" in path:
        latency = path["latency"]
        rate = f"@{latency['rate']:g}/s"
        lines.append(f"  press → alarm {rate:<12} {_lat(latency['alarm'])}")
        lines.append(f"  press → ack   {rate:<12} {_lat(latency['ack'])}")
        lines.append(f"                             {_load(latency).strip()}")
        lines.extend(_stage_lines(latency.get("stages") or {}))
    if "throughput" in path:
        lines.append(
            "  throughput (offered → durable, hub CPU per press, mean commit batch, hub RSS, "
            "verdict)"
        )
        for step in path["throughput"]["steps"]:
            batch = "-" if step["mean_batch"] is None else f"{step['mean_batch']:.0f}"
            lines.append(
                f"    {step['rate']:>7,}/s → {step['durable_rate']:>9,.0f}/s  "
                f"{step['hub_cpu_us_per_press']:>5.0f} µs  batch {batch:>4}  "
                f"{step['hub_rss_mib']:>4.0f} MiB  {step['verdict']}{_load(step)}"
            )
        t = path["throughput"]
        lines.append(f"    lost {t['lost']}, doubled {t['doubled']}; stopped by: {t['stopped_by']}")
        if t.get("saturated_rate"):
            lines.append(f"    flat out, the hub committed {t['saturated_rate']:,.0f} presses/s")
    if "io_floor" in path:
        floor = path["io_floor"]
        lines.append(
            f"  MQTT I/O of a press alone @{floor['rate']:,}/s: "
            f"{floor['cpu_us_per_press']:.0f} µs CPU per press ({floor['handled']:,} handled)"
        )
    return lines


def table(report: dict[str, Any]) -> str:
    """The report for people: the machine, each measurement, the targets."""
    m, r = report["machine"], report["results"]
    lines = [
        f"machine  {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['kernel']}",
        f"         Python {m['python']}, Mosquitto {m['mosquitto']}, SQLite {m['sqlite']}, "
        f"paho-mqtt {m['paho_mqtt']}, mqtt5 {m.get('mqtt5', 'not used')}",
        f"         load average {m['load_average_at_start']} at start, "
        f"{m.get('load_average_at_end')} at end",
        "",
    ]
    if "idle" in r:
        idle = r["idle"]
        lines.append(
            f"idle commune hub ({idle['buttons']} buttons): CPU {idle['hub_cpu_percent']:.1f} %, "
            f"RSS {idle['hub_rss_mib']:.0f} MiB{_load(idle)}"
        )
    for path in r.get("press_path", []):
        lines += _press_path_lines(path)
    if "supervision" in r:
        s = r["supervision"]
        lines.append(
            f"supervision {s['buttons']:,} buttons / {s['heartbeat_every_s']:g} s "
            f"({s['heartbeats_per_s']:,.0f} heartbeats/s on {s['connections']} connections): "
            f"hub CPU {s['hub_cpu_percent']:.1f} %, RSS max {s['hub_rss_mib_max']:.0f} MiB, "
            f"{s['devices_stored']:,} devices stored{_load(s)}"
        )
    if "restart" in r:
        for key in ("empty", "history"):
            start = r["restart"][key]
            lines.append(
                f"ready, {start['events']:>9,} events ({start['store_mib']:.0f} MiB store): "
                f"{', '.join(f'{t:.2f}' for t in start['ready_s'])} s, "
                f"RSS {start['rss_mib_ready']:.0f} MiB"
            )
    lines += ["", "targets"]
    for target in report.get("targets", []):
        mark = {True: "met", False: "NOT MET", None: "-"}[target["met"]]
        lines.append(f"  {mark:<8} {target['name']}: {target['figure']} (target {target['limit']})")
    return "\n".join(lines)

"""The post's siren sound, made at install time: `python -m hub.notify.siren PATH [SECONDS]`.

The example escalation (config/escalation.example.toml, `[notifiers.loa]`) plays
/usr/share/sounds/chuong/siren.wav with aplay; scripts/install-post.sh writes that file with this
module, so the example works as installed and no binary sound is kept in the repository. A
two-tone wail (650 Hz and 900 Hz, alternating every 0.4 s, like a police siren heard from a
distance), 16-bit mono at 16 kHz, loud but not clipped.
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from pathlib import Path
from typing import Final

RATE: Final = 16_000
TONES_HZ: Final = (650.0, 900.0)
HALF_PERIOD_S: Final = 0.4
AMPLITUDE: Final = 0.7 * 32767


def siren_frames(seconds: float) -> bytes:
    """The samples, little-endian 16-bit; the phase runs on across tone changes (no clicks)."""
    samples = []
    phase = 0.0
    for n in range(round(seconds * RATE)):
        tone = TONES_HZ[int(n / (RATE * HALF_PERIOD_S)) % 2]
        phase += 2 * math.pi * tone / RATE
        samples.append(round(AMPLITUDE * math.sin(phase)))
    return struct.pack(f"<{len(samples)}h", *samples)


def write_siren(path: Path, seconds: float = 10.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(siren_frames(seconds))
    partial.chmod(0o644)
    partial.replace(path)


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        sys.stderr.write("usage: python -m hub.notify.siren PATH [SECONDS]\n")
        return 2
    try:
        seconds = float(argv[1]) if len(argv) == 2 else 10.0
    except ValueError:
        sys.stderr.write(f"SECONDS must be a number, not {argv[1]!r}\n")
        return 2
    if not 0.5 <= seconds <= 120:
        sys.stderr.write(f"SECONDS must be between 0.5 and 120, not {seconds:g}\n")
        return 2
    write_siren(Path(argv[0]), seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The siren sound the installer writes for the example escalation."""

from __future__ import annotations

import itertools
import struct
import wave
from pathlib import Path

import pytest

from hub.notify.siren import RATE, main, write_siren


def test_the_siren_is_a_loud_unclipped_two_tone_wav(tmp_path: Path) -> None:
    path = tmp_path / "sounds/siren.wav"
    write_siren(path, seconds=2.0)
    with wave.open(str(path)) as siren:
        assert (siren.getnchannels(), siren.getsampwidth(), siren.getframerate()) == (1, 2, RATE)
        frames = siren.readframes(siren.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    assert len(samples) == 2 * RATE
    assert 20_000 < max(samples) < 32_767  # loud, never at the rail
    assert -32_767 < min(samples) < -20_000

    def crossings(part: tuple[int, ...]) -> int:
        return sum(1 for a, b in itertools.pairwise(part) if a < 0 <= b)

    first, second = samples[: int(0.4 * RATE)], samples[int(0.4 * RATE) : int(0.8 * RATE)]
    assert crossings(first) == pytest.approx(650 * 0.4, abs=2)
    assert crossings(second) == pytest.approx(900 * 0.4, abs=2)
    assert path.stat().st_mode & 0o777 == 0o644
    assert not path.with_name("siren.wav.new").exists()


@pytest.mark.parametrize(
    ("argv", "says"),
    [([], "usage"), (["x.wav", "loud"], "must be a number"), (["x.wav", "500"], "between 0.5")],
)
def test_bad_arguments_are_refused_with_the_reason(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err

"""The reference button's signing code (devices/esphome/chuong_sign.h) signs exactly as the hub
checks: compiled here with Debian's mbedtls (ESP-IDF's own library on the device), its output
is compared with devices/signing.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devices.signing import canonical, new_key, sign

HEADER_DIR = Path(__file__).parents[2] / "devices" / "esphome"

HARNESS = r"""
#include <cstdio>
#include <string>
#include "chuong_sign.h"

int main(int argc, char **argv) {
  // argv: key button id type seq ts
  std::string text =
      chuong_canonical(argv[2], argv[3], argv[4], std::stoul(argv[5]), std::stoul(argv[6]));
  std::printf("%s\n%s", chuong_hmac_hex(argv[1], text).c_str(), text.c_str());
  return 0;
}
"""


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("esphome-sign")
    source = work / "harness.cpp"
    source.write_text(HARNESS)
    binary = work / "harness"
    compiled = subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-O1",
            f"-I{HEADER_DIR}",
            str(source),
            "-o",
            str(binary),
            "-lmbedcrypto",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert compiled.returncode == 0, (
        compiled.stderr + "\n(needs g++ and libmbedtls-dev: `make install`)"
    )
    return binary


@pytest.mark.parametrize(
    ("button", "event_id", "seq", "ts"),
    [
        ("vcb-quay-1", "1f2e3d4c5b6a7988", 1, 1795334400),
        ("bank-1", "ffffffff00000000", 4294967295, 4294967295),
        ("x", "0", 0, 0),
    ],
)
def test_the_button_signs_as_the_hub_checks(
    signer: Path, button: str, event_id: str, seq: int, ts: int
) -> None:
    """Same key and fields: the C++ on the button and the Python in the hub give the same
    canonical text and the same signature, byte for byte."""
    key = new_key()
    result = subprocess.run(
        [str(signer), key, button, event_id, "press", str(seq), str(ts)],
        capture_output=True,
        text=True,
        check=True,
    )
    signature, text = result.stdout.split("\n", 1)
    assert text.encode() == canonical(button, event_id, "press", seq, ts)
    assert signature == sign(key, button, event_id, "press", seq, ts)


def test_a_different_key_gives_a_different_signature(signer: Path) -> None:
    """The compiled code really uses the key (the check can fail)."""
    one, other = new_key(), new_key()
    outputs = {
        subprocess.run(
            [str(signer), key, "b", "e", "press", "1", "2"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for key in (one, other)
    }
    assert len(outputs) == 2

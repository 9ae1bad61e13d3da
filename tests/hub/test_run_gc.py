"""What the hub loads at its start is frozen out of the garbage collector's sight (hub/run.py):
a full collection does not walk it on the event loop, in front of the presses."""

from __future__ import annotations

import gc

from hub.run import freeze_startup_objects


def test_the_startup_objects_are_frozen() -> None:
    kept = [object() for _ in range(1000)]
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()

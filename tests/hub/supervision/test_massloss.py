"""Unit tests of hub/supervision/massloss.py: which drops make a mass loss (fixed times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.config.supervision import MassLossSection
from hub.supervision.massloss import (
    Drop,
    commune_threshold,
    find_losses,
    largest_window,
    site_threshold,
)

T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
DEFAULT = MassLossSection()


def drop(button: str, site: str, after_s: float) -> Drop:
    return Drop(button, site, T0 + timedelta(seconds=after_s))


def test_site_thresholds() -> None:
    """All of a site's mains buttons by default, from two; a configured count, capped at the
    site's own number; a site of one has no mass loss."""
    assert site_threshold(1, None) is None
    assert site_threshold(2, None) == 2
    assert site_threshold(5, None) == 5
    assert site_threshold(5, 3) == 3
    assert site_threshold(2, 3) == 2


def test_commune_threshold() -> None:
    assert commune_threshold(10, DEFAULT) == 5, "30 % of 10 is 3, below the minimum of 5"
    assert commune_threshold(40, DEFAULT) == 12
    assert commune_threshold(40, MassLossSection(commune_percent=None)) is None


def test_two_of_two_within_the_window_is_a_loss_one_of_two_is_not() -> None:
    first, second = drop("b1", "bank", 0), drop("b2", "bank", 90)
    mains = {"bank": 2, "shop": 2}
    (loss,) = find_losses([second], [first, second], mains, DEFAULT)
    assert (loss.site, [d.button for d in loss.drops], loss.of) == ("bank", ["b1", "b2"], 2)
    assert find_losses([first], [first], mains, DEFAULT) == []


def test_drops_further_apart_than_the_window_are_no_loss() -> None:
    """A button dead since yesterday and another that drops now are two troubles."""
    old, new = drop("b1", "bank", 0), drop("b2", "bank", 121)
    assert find_losses([new], [old, new], {"bank": 2}, DEFAULT) == []


def test_one_window_holds_the_group() -> None:
    """The group is the largest within one window that holds a fresh drop: the drop at 200 s
    groups with the one at 100 s, not with the one at 0 s (200 s before it)."""
    drops = [drop("a", "s", 0), drop("b", "s", 100), drop("c", "s", 200)]
    window = timedelta(seconds=120)
    assert [d.button for d in largest_window(drops, {drops[1]}, window, 2) or []] == ["a", "b"]
    assert [d.button for d in largest_window(drops, {drops[2]}, window, 2) or []] == ["b", "c"]
    assert largest_window(drops, {drops[2]}, window, 3) is None
    assert largest_window(drops, {drops[2]}, window, 2, min_sites=2) is None


def test_a_commune_wide_outage_is_decided_in_one_pass() -> None:
    """850 of 3,000 mains buttons at 100 sites drop over ten minutes (below the commune's 30 %):
    each drop enters the sliding window once and leaves it once, so deciding it costs a pass
    over the drops, not every drop against every other (the first version compared them all, for
    each fresh drop: 33 s on the writer for this case, with the presses waiting behind it)."""

    class Watched(set[Drop]):
        looked_up = 0

        def __contains__(self, item: object) -> bool:
            Watched.looked_up += 1
            return super().__contains__(item)

    mains = {f"site{n}": 30 for n in range(100)}
    drops = [drop(f"b{n}", f"site{n % 100}", n * 600 / 850) for n in range(850)]
    assert find_losses(drops, drops, mains, DEFAULT) == []  # 850 < 900, no site lost all 30
    group = largest_window(drops, Watched(drops), timedelta(seconds=120), 1)
    assert Watched.looked_up == 2 * len(drops)
    assert group is not None
    assert len(group) == sum(1 for d in drops if d.at - drops[0].at <= timedelta(seconds=120))


def test_the_commune_rule_comes_first_and_needs_two_sites() -> None:
    """Five of ten mains buttons at three sites within the window: one commune loss (no site
    loss besides); five at a single site are that site's loss only."""
    mains = {"bank": 2, "shop": 2, "clinic": 6}
    spread = [drop("b1", "bank", 0), drop("b2", "bank", 5), drop("s1", "shop", 10)]
    spread += [drop("c1", "clinic", 20), drop("c2", "clinic", 30)]
    (loss,) = find_losses([spread[-1]], spread, mains, DEFAULT)
    assert loss.site is None
    assert loss.sites == ("bank", "shop", "clinic")
    clinic = [drop(f"c{n}", "clinic", n) for n in range(6)]
    (only,) = find_losses([clinic[-1]], clinic, mains, DEFAULT)
    assert only.site == "clinic"

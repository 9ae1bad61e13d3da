"""Unit tests of the dispatcher's retry timing (a static, pure decision)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.notify.dispatcher import Dispatcher
from hub.notify.webhook import WebhookNotifier
from hub.store.ops import OutboxRow

QUEUED = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
CONFIG = WebhookNotifier.model_validate(
    {
        "type": "webhook",
        "url": "http://127.0.0.1:9/x",
        "retry_min_s": 5,
        "retry_max_s": 60,
        "give_up_after_s": 600,
    }
)
ROW = OutboxRow(1, "alarm:post-1/1.0/x", "x", "alarm", "post-1", None, {}, QUEUED, QUEUED, 0)


def delay(attempt: int, now: datetime = QUEUED, **kwargs: object) -> float | None:
    options = {"permanent": False, "retry_after": None, **kwargs}
    retry_at = Dispatcher._retry_at(CONFIG, ROW, attempt, now, **options)  # type: ignore[arg-type]
    return None if retry_at is None else (retry_at - now).total_seconds()


def test_backoff_doubles_from_retry_min_to_retry_max_with_jitter() -> None:
    """5 s, 10 s, 20 s, 40 s, then 60 s at most; each up to 20 % shorter (jitter)."""
    for attempt, base in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (9, 60)]:
        seconds = delay(attempt)
        assert seconds is not None
        assert 0.8 * base <= seconds <= base


def test_retry_after_from_the_service_is_followed() -> None:
    assert delay(1, retry_after=17.0) == 17.0


def test_permanent_errors_and_old_rows_are_not_retried() -> None:
    """A permanent error is final; so is a failure whose retry would fall after give_up_after_s
    from when the row was queued."""
    assert delay(1, permanent=True) is None
    assert delay(1, now=QUEUED + timedelta(seconds=596)) is None
    assert delay(1, now=QUEUED + timedelta(seconds=590)) is not None

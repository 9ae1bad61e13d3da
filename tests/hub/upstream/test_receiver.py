"""The district's receiver, before the store: what it lets wait in memory."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from hub.broker.mqtt import MqttAdapter, MqttMessage
from hub.clock import SystemClock
from hub.config import Config
from hub.domain.inbound import Delivery
from hub.domain.views import PostRefView
from hub.metrics import Metrics
from hub.store import Store
from hub.upstream.district import QOS0_WAITING_MAX, DistrictReceiver
from hub.upstream.wire import ChangeMessage, PostId
from hub.writer.pipeline import Pipeline
from tests.hub.upstream.test_plans import messages


def message(qos: int) -> MqttMessage:
    delivery = cast(Delivery, object()) if qos else None
    return MqttMessage("chuong/v1/up/xa-a/change", b"{}", qos, False, datetime.now(UTC), delivery)


def receiver(metrics: Metrics | None = None) -> DistrictReceiver:
    config = Config.model_validate({"hub": {"id": "district", "mode": "district"}})
    unused: Any = None
    return DistrictReceiver(
        config=config,
        store=cast(Store, unused),
        pipeline=cast(Pipeline, unused),
        clock=SystemClock(),
        metrics=metrics or Metrics(),
        mqtt=cast(MqttAdapter, unused),
    )


def sent_by(sender: str, change: ChangeMessage, origin: str | None = None) -> ChangeMessage:
    """`change` (an alarm of post `xa-a`) as `sender` sends it, naming `origin` as its post."""
    alarm = change.alarm.model_copy(
        update={"post": None if origin is None else PostRefView(id=origin, name="")}
    )
    return change.model_copy(update={"post": PostId(id=sender, name=""), "alarm": alarm})


def test_a_post_speaks_for_its_own_alarms_and_a_district_for_its_posts() -> None:
    """Post `xa-a`'s alarm `xa-a-7`: from `xa-a` itself, accepted; from post `xa-b` as its own,
    refused (the id is not `xa-b`'s); forwarded by district `huyen-1` first, then also claimed
    by `huyen-2`: the second is refused. A forger that claimed `xa-a` first as a "district"
    cannot keep the post itself out: a post always speaks for its own alarms, and the claim is
    then the post's."""
    change = messages()[0]
    checking = receiver()
    checking._check_owner(sent_by("xa-a", change))
    with pytest.raises(ValueError, match="not post 'xa-b'"):
        checking._check_owner(sent_by("xa-b", change))

    forwarded = receiver()
    forwarded._check_owner(sent_by("huyen-1", change, origin="xa-a"))
    with pytest.raises(ValueError, match="come from 'huyen-1'"):
        forwarded._check_owner(sent_by("huyen-2", change, origin="xa-a"))

    forged_first = receiver()
    forged_first._check_owner(sent_by("xa-b", change, origin="xa-a"))
    forged_first._check_owner(sent_by("xa-a", change))  # the post itself: accepted
    with pytest.raises(ValueError, match="come from 'xa-a'"):
        forged_first._check_owner(sent_by("xa-b", change, origin="xa-a"))


def test_qos0_messages_beyond_the_limit_are_dropped_and_counted() -> None:
    """A post sending at QoS 0 escapes the broker's brake: beyond QOS0_WAITING_MAX waiting, such
    a message is dropped and counted; QoS 1 messages (what posts send) are never dropped here."""
    metrics = Metrics()
    waiting = receiver(metrics)
    for _ in range(QOS0_WAITING_MAX + 5):
        waiting.handle(message(0))
    waiting.handle(message(1))
    assert waiting._queue.qsize() == QOS0_WAITING_MAX + 1
    overflow = metrics.rejected.labels("upstream_overflow")._value.get()
    assert overflow == 5

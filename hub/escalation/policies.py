"""The configured policies, and which one an alarm or a trouble follows."""

from __future__ import annotations

from collections.abc import Mapping

from hub.config.escalation import EscalationSection, StepSection
from hub.domain.model import Alarm, Trouble
from hub.escalation.policy import DEFAULT_POLICY, TROUBLE_POLICY, Policy, Rule, Step, choose
from hub.notify.mqtt import MqttNotifier
from hub.notify.settings import NotifierSettings


def person_of(name: str, notifier: NotifierSettings) -> str | None:
    """Who a notifier reaches with a link to acknowledge (None: a device, or no link)."""
    return (notifier.person or name) if notifier.links else None


def _steps(
    configured: list[StepSection], notifiers: Mapping[str, NotifierSettings]
) -> tuple[Step, ...]:
    def people(names: list[str]) -> tuple[str, ...]:
        found = (person_of(name, notifiers[name]) for name in names if name in notifiers)
        return tuple(dict.fromkeys(person for person in found if person is not None))

    return tuple(
        Step(
            number,
            step.after_s,
            tuple(step.notify),
            step.repeat_s,
            each=step.ack == "each",
            people=people(step.notify),
        )
        for number, step in enumerate(configured, start=1)
    )


class Policies:
    """Built once from the configuration; pure lookups afterwards.

    Test alarms follow the same policy reduced to the notifiers marked `tests = true` (local
    devices only, by configuration): a test may sound the post's siren if the installer wants the
    whole chain checked, but never calls a person.
    """

    def __init__(
        self, section: EscalationSection, notifiers: Mapping[str, NotifierSettings]
    ) -> None:
        self._alarm: dict[str, Policy] = {
            DEFAULT_POLICY: Policy(DEFAULT_POLICY, _steps(section.steps, notifiers))
        }
        for name, configured in section.policies.items():
            self._alarm[name] = Policy(name, _steps(configured.steps, notifiers))
        self._rules = tuple(
            Rule(
                rule.policy,
                tuple(rule.sites),
                tuple(rule.buttons),
                rule.unregistered,
                tuple(rule.kinds),
            )
            for rule in section.rules
        )
        self._kinds = dict(section.kinds)
        self._trouble = Policy(TROUBLE_POLICY, _steps(section.troubles.steps, notifiers))
        kinds = section.troubles.kinds
        self._trouble_kinds = None if kinds is None else frozenset(kinds)
        self._for_tests = frozenset(name for name, n in notifiers.items() if n.tests)
        self.devices = {
            name: notifier
            for name, notifier in notifiers.items()
            if isinstance(notifier, MqttNotifier)
        }
        """mqtt notifiers: switched off again when the alarm no longer needs them"""
        self.people = {
            name: person
            for name, notifier in notifiers.items()
            if (person := person_of(name, notifier)) is not None
        }
        """notifier name -> the person its link acknowledges as"""

    @property
    def troubles_escalate(self) -> bool:
        return bool(self._trouble.steps)

    @property
    def enabled(self) -> bool:
        return any(p.steps for p in self._alarm.values()) or self.troubles_escalate

    def name_for(self, alarm: Alarm) -> str:
        return choose(self._rules, alarm, self._kinds)

    def for_alarm(self, alarm: Alarm, name: str | None = None) -> Policy | None:
        """The alarm's policy (by name if given, as stored when it was raised); None if it has
        no step to fire."""
        policy = self._alarm.get(name or self.name_for(alarm), self._alarm[DEFAULT_POLICY])
        if alarm.test:
            policy = policy.only(self._for_tests)
        return policy if policy.steps else None

    def for_trouble(self, trouble: Trouble) -> Policy | None:
        if self._trouble_kinds is not None and trouble.kind not in self._trouble_kinds:
            return None
        return self._trouble if self._trouble.steps else None

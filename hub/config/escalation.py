"""[escalation]: who is told, and when, while nobody acknowledges.

    [[escalation.steps]]            # the default policy for alarms
    after_s = 0                     # seconds after the raise
    notify = ["post-siren"]

    [[escalation.steps]]
    after_s = 30
    notify = ["duty-phone"]
    repeat_s = 60                   # again every minute until acknowledged

    [escalation.policies.market]    # another policy, chosen by a rule
    steps = [{ after_s = 0, notify = ["post-siren", "fire-brigade"] }]

    [[escalation.rules]]            # first match wins; otherwise the kind's policy
    sites = ["market-*"]            # site ids (shell patterns)
    policy = "market"

    [escalation.kinds]              # a policy per alarm kind; otherwise the default policy
    fire = "fire"                   # names a policy in [escalation.policies]

    [escalation.troubles]           # the gentler policy for troubles
    kinds = ["tamper", "notifier_failing"]
    steps = [{ after_s = 120, notify = ["duty-phone"] }]

With no [escalation] at all, nothing is sent: alarms are shown on the page only.
Whether every name refers to a notifier is checked by `Config` (see `check_references`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.domain.model import AlarmKind, TroubleKind
from hub.notify.settings import check_name


class StepSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after_s: float = Field(ge=0, le=7 * 86400, description="Seconds after the raise.")
    notify: list[str] = Field(min_length=1, description="Notifier names.")
    repeat_s: float | None = Field(
        default=None,
        ge=1,
        le=86400,
        description="Fire again every so many seconds until acknowledged.",
    )
    ack: Literal["any", "each"] = Field(
        default="any",
        description='"any": one acknowledgement stops the climb; "each": every person the step '
        "names must acknowledge from their own link (docs/ESCALATION.md).",
    )


def _check_order(steps: list[StepSection]) -> list[StepSection]:
    for index in range(1, len(steps)):
        if steps[index].after_s < steps[index - 1].after_s:
            raise ValueError(
                f"step {index + 1} fires before step {index}: list the steps in the order of "
                "their after_s"
            )
    return steps


class PolicySection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[StepSection] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[StepSection]) -> list[StepSection]:
        return _check_order(steps)


class RuleSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sites: list[str] = Field(default_factory=list, description="Site id patterns (fnmatch).")
    buttons: list[str] = Field(default_factory=list, description="Button id patterns.")
    unregistered: bool | None = Field(
        default=None, description="true: only alarms from buttons the registry does not know."
    )
    kinds: list[AlarmKind] = Field(
        default_factory=list, description="Alarm kinds (holdup, fire, medical, ...)."
    )
    policy: str = Field(description="Name of a policy in [escalation.policies].")

    @model_validator(mode="after")
    def _has_a_condition(self) -> RuleSection:
        if not self.sites and not self.buttons and self.unregistered is None and not self.kinds:
            raise ValueError("a rule needs sites, buttons, unregistered or kinds")
        return self


class TroubleSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[TroubleKind] | None = Field(
        default=None, description="Trouble kinds that are notified (default: every kind)."
    )
    steps: list[StepSection] = Field(default_factory=list)

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[StepSection]) -> list[StepSection]:
        return _check_order(steps)


class EscalationSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[StepSection] = Field(
        default_factory=list, description="The default policy for alarms."
    )
    policies: dict[str, PolicySection] = Field(default_factory=dict)
    rules: list[RuleSection] = Field(default_factory=list)
    kinds: dict[AlarmKind, str] = Field(
        default_factory=dict,
        description="The policy of each alarm kind (a name in [escalation.policies]); a kind not "
        "listed follows the default policy. Rules come first.",
    )
    troubles: TroubleSection = Field(default_factory=TroubleSection)
    link_ttl_s: int = Field(
        default=12 * 3600,
        ge=300,
        le=7 * 86400,
        description="How long a phone link to acknowledge an alarm stays valid.",
    )

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[StepSection]) -> list[StepSection]:
        return _check_order(steps)


def check_references(
    escalation: EscalationSection, notifiers: Mapping[str, Any], *, links: bool = True
) -> list[str]:
    """Cross-section problems, one `section.key: problem` line each: unknown notifiers, unknown
    policies, names that cannot go into a link, an `ack = "each"` step whose people get no link
    (`links`: whether `hub.public_url` is set, without which no message carries one)."""
    problems = []
    for name in escalation.policies:
        try:
            check_name(name)
        except ValueError as exc:
            problems.append(f"escalation.policies.{name}: {exc}")

    def steps(prefix: str, listed: list[StepSection]) -> None:
        for index, step in enumerate(listed, 1):  # numbered from 1, as levels are
            for name in step.notify:
                if name not in notifiers:
                    known = ", ".join(sorted(notifiers)) or "none is configured"
                    problems.append(
                        f"{prefix}.{index}.notify: unknown notifier {name!r} (known: {known})"
                    )
            if step.ack == "each" and prefix != "escalation.troubles.steps":
                problems.extend(_each_problems(f"{prefix}.{index}.ack", step, notifiers, links))

    steps("escalation.steps", escalation.steps)
    for name, policy in escalation.policies.items():
        steps(f"escalation.policies.{name}.steps", policy.steps)
    steps("escalation.troubles.steps", escalation.troubles.steps)
    for index, step in enumerate(escalation.troubles.steps, 1):
        if step.ack == "each":
            problems.append(
                f"escalation.troubles.steps.{index}.ack: troubles are not acknowledged from "
                'links; only an alarm step may say "each"'
            )
    known = ", ".join(sorted(escalation.policies)) or "none is configured"
    for index, rule in enumerate(escalation.rules, 1):
        if rule.policy not in escalation.policies:
            problems.append(
                f"escalation.rules.{index}.policy: unknown policy {rule.policy!r} (known: {known})"
            )
    for kind, wanted in escalation.kinds.items():
        if wanted not in escalation.policies:
            problems.append(f"escalation.kinds.{kind}: unknown policy {wanted!r} (known: {known})")
    return problems


def _each_problems(
    key: str, step: StepSection, notifiers: Mapping[str, Any], links: bool
) -> list[str]:
    """`ack = "each"` needs people who can acknowledge: notifiers that send a link, and the
    address the link points at."""
    if not links:
        return [f'{key}: "each" needs hub.public_url: without it no message carries a link']
    known = [notifiers[name] for name in step.notify if name in notifiers]
    if known and not any(notifier.links for notifier in known):
        return [
            f'{key}: "each" needs a notifier that sends a person a link '
            f"({', '.join(step.notify)} send none)"
        ]
    return []

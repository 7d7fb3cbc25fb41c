"""Wire formats of disclosure requirements, obligations, the overview and reminders."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from exchange.db import iso_or_none
from exchange.disclosure import services
from exchange.disclosure.models import (
    ContentLevel,
    DeadlineKind,
    DisclosureReminder,
    DisclosureRequirement,
    Manner,
)
from exchange.organisations.schemas import UTCDatetime


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ScopeInput(_Strict):
    category: str | None = Field(default=None, min_length=1, max_length=300)
    product_ids: list[str] = Field(default_factory=list, alias="productIds", max_length=1000)
    organisation_ids: list[str] = Field(
        default_factory=list, alias="organisationIds", max_length=10000
    )


class ContentInput(_Strict):
    level: ContentLevel
    fields: list[str] = Field(default_factory=list, max_length=50)


class DeadlineInput(_Strict):
    kind: DeadlineKind
    month: int | None = None
    day: int | None = None
    within_days: int | None = Field(default=None, alias="withinDays")
    due_soon_days: int = Field(default=30, alias="dueSoonDays")


class RequirementRequest(_Strict):
    title: str = Field(max_length=300)
    basis: str = Field(max_length=5000)
    scope: ScopeInput
    content: ContentInput
    manner: Manner
    deadline: DeadlineInput
    effective_from: UTCDatetime | None = Field(default=None, alias="effectiveFrom")

    def to_new(self) -> services.NewRequirement:
        return services.NewRequirement(
            title=self.title,
            basis=self.basis,
            category=self.scope.category,
            product_ids=self.scope.product_ids,
            organisation_ids=self.scope.organisation_ids,
            content_level=self.content.level,
            fields=self.content.fields,
            manner=self.manner,
            deadline_kind=self.deadline.kind,
            annual_month=self.deadline.month,
            annual_day=self.deadline.day,
            within_days=self.deadline.within_days,
            due_soon_days=self.deadline.due_soon_days,
            effective_from=self.effective_from,
        )


def requirement_json(requirement: DisclosureRequirement) -> dict[str, Any]:
    deadline: dict[str, Any] = {
        "kind": requirement.deadline_kind.value,
        "dueSoonDays": requirement.due_soon_days,
    }
    if requirement.deadline_kind is DeadlineKind.ANNUAL:
        deadline |= {"month": requirement.annual_month, "day": requirement.annual_day}
    else:
        deadline["withinDays"] = requirement.within_days
    return {
        "id": requirement.id,
        "title": requirement.title,
        "basis": requirement.basis,
        "scope": {
            "category": requirement.category,
            "productIds": requirement.product_ids,
            "organisationIds": [member.organisation_id for member in requirement.members],
        },
        "content": {"level": requirement.content_level.value, "fields": requirement.fields},
        "manner": requirement.manner.value,
        "deadline": deadline,
        "effectiveFrom": iso_or_none(requirement.effective_from),
        "withdrawnAt": iso_or_none(requirement.withdrawn_at),
        "createdAt": iso_or_none(requirement.created_at),
    }


def obligation_json(obligation: services.Obligation) -> dict[str, Any]:
    return {
        "requirement": requirement_json(obligation.requirement),
        "organisationId": obligation.organisation_id,
        "productId": obligation.product_id,
        "state": obligation.state.value,
        "dueAt": iso_or_none(obligation.due_at),
        "recordId": obligation.record_id,
        "missing": obligation.missing,
    }


def overview_json(entries: list[services.OverviewEntry]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.obligation.state.value] = counts.get(entry.obligation.state.value, 0) + 1
    return {
        "counts": counts,
        "data": [
            {
                "requirementId": entry.obligation.requirement.id,
                "requirementTitle": entry.obligation.requirement.title,
                "organisationId": entry.obligation.organisation_id,
                "organisationName": entry.organisation_name,
                "productId": entry.obligation.product_id,
                "state": entry.obligation.state.value,
                "dueAt": iso_or_none(entry.obligation.due_at),
                "recordId": entry.obligation.record_id,
                "missing": entry.obligation.missing,
                "redacted": entry.redacted,
            }
            for entry in entries
        ],
    }


def reminder_json(reminder: DisclosureReminder) -> dict[str, Any]:
    return {
        "id": reminder.id,
        "requirement": reminder.requirement_id,
        "productId": reminder.product_id or None,
        "state": reminder.state.value,
        "dueAt": iso_or_none(reminder.due_at),
        "detail": reminder.detail,
        "eventId": reminder.event_id,
        "createdAt": iso_or_none(reminder.created_at),
    }

"""Wire formats of organisations, keys and API clients."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from exchange.errors import ValidationFailed
from exchange.footprints.schemas import field_errors
from exchange.partners.models import Organisation, Role


class KeyRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jwk: dict[str, Any]
    not_before: AwareDatetime | None = Field(default=None, alias="notBefore")
    not_after: AwareDatetime | None = Field(default=None, alias="notAfter")


class KeyRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
    revoked_at: AwareDatetime | None = Field(default=None, alias="revokedAt")


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], value: object) -> ModelT:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ValidationFailed("the request body is not valid", details=field_errors(exc)) from exc


def organisation_json(organisation: Organisation) -> dict[str, Any]:
    return {
        "id": organisation.id,
        "name": organisation.name,
        "country": organisation.country,
        "uscc": organisation.uscc,
        "roles": sorted(item.role.value for item in organisation.roles),
        "companyIds": sorted(item.urn for item in organisation.company_ids),
    }


def parse_roles(values: list[str]) -> list[Role]:
    try:
        return [Role(value) for value in values]
    except ValueError as exc:
        allowed = ", ".join(role.value for role in Role)
        raise ValidationFailed(f"roles are among: {allowed}") from exc

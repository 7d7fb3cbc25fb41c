"""Wire formats of organisations, keys and API clients."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from exchange import limits
from exchange.errors import ValidationFailed, field_errors
from exchange.organisations.models import Organisation, Role


def _in_utc(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 falls before year 1 in UTC
        raise ValueError("out of range: years 1 to 9999 in UTC") from exc


# A request body's date-time with its zone, as UTC. Year 1 east of Greenwich or year 9999
# west of it has no UTC time: a validation error, not an OverflowError where it is stored
# or compared.
UTCDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class KeyRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jwk: dict[str, Any]
    not_before: UTCDatetime | None = Field(default=None, alias="notBefore")
    not_after: UTCDatetime | None = Field(default=None, alias="notAfter")


class KeyRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=limits.REVOCATION_REASON)
    revoked_at: UTCDatetime | None = Field(default=None, alias="revokedAt")


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

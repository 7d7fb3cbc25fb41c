"""The exchange's own wire model of a PACT v3 ``ProductFootprint``.

Hand-written pydantic v2 models of ``components/schemas`` of the PACT v3 OpenAPI
document (JSON Schema 2020-12): ``ProductFootprint``, ``CarbonFootprint``,
``DataQualityIndicators``, ``ProductOrSectorSpecificRule``, ``EmissionFactorSource``,
``Verification`` and ``DataModelExtension``. Python attributes are snake_case; the
PACT camelCase names are the aliases. Nothing here reads the specification files.

How the schema is read:

* Decimals are JSON strings matching the schema's decimal pattern, parsed into exact
  :class:`decimal.Decimal`; a JSON number is an error. The sign types
  ``PositiveNonZeroDecimal`` and ``NegativeOrZeroDecimal`` have patterns whose ``|``
  escapes their anchors (so ``"-0.5"`` or ``"10"`` would pass); they are applied as
  their documented intent (``> 0``, ``<= 0``), anchored around the whole alternation.
* Regular expressions follow ECMA-262 as JSON Schema requires: ``\\d`` is ``[0-9]`` and
  ``$`` is the end of the string (no trailing newline).
* ``format`` is asserted for ``uuid`` (RFC 4122 text form), ``date-time`` (RFC 3339;
  second 60 and year 0000 are refused because :class:`datetime.datetime` cannot hold
  them; digits past microseconds are truncated) and ``uri`` (RFC 3986 absolute URI).
  ``urn`` and ``decimal`` are not JSON Schema formats, so only their patterns apply.
* No object in the schema sets ``additionalProperties``, so unknown properties are
  accepted at every level and kept (``model_extra``), so a footprint re-serialises
  with them. Properties are never nullable: an explicit ``null`` is an error.
* The schema sets no range for ``exemptedEmissionsPercent``, ``primaryDataShare`` or the
  DQRs, no enum for ``crossSectoralStandards`` (``x-enum`` only; hosts must accept later
  values) and no ``otherOperatorName`` rule; none is invented here.
* A URN (``companyIds``, ``productIds``, ``productClassifications``) has at most
  :data:`exchange.limits.URN` characters: PACT sets no maxLength, but the exchange stores
  and finds records by them.
* ``CarbonFootprint``'s ``oneOf`` allows at most one of ``geographyRegionOrSubregion``,
  ``geographyCountry`` and ``geographyCountrySubdivision``.

:func:`parse_product_footprint` validates wire data (camelCase names only, strings for
decimals, dates and ids) and reports every field error at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, Self, TypeVar
from uuid import UUID

from annotated_types import MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from exchange import limits
from exchange.errors import ValidationFailed

__all__ = [
    "CarbonFootprint",
    "DataModelExtension",
    "DataQualityIndicators",
    "EmissionFactorSource",
    "ProductFootprint",
    "ProductOrSectorSpecificRule",
    "Verification",
    "parse_date_time",
    "parse_product_footprint",
]

_T = TypeVar("_T")

#: Message of the :class:`ValidationFailed` raised by :func:`parse_product_footprint`.
FOOTPRINT_INVALID: Final = "footprint does not conform to PACT v3 ProductFootprint"

# Validation context marking wire input: only JSON strings may carry decimals, dates and
# ids. Without it (Python code building a model) Decimal, datetime and UUID objects pass.
_WIRE: Final = "pact_wire"


def _is_wire(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and info.context.get(_WIRE) is True


def _error(kind: str, message: str) -> PydanticCustomError:
    # The message goes through the context so that braces in it are never a template.
    return PydanticCustomError(kind, "{message}", {"message": message})


# --- decimals ----------------------------------------------------------------------------

_DECIMAL_RE: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_POSITIVE_OR_ZERO_RE: Final = re.compile(r"\+?[0-9]+(?:\.[0-9]+)?")
_POSITIVE_NON_ZERO_RE: Final = re.compile(
    r"\+?(?:[0-9]*[1-9][0-9]*(?:\.[0-9]+)?|0+\.[0-9]*[1-9][0-9]*)"
)
_NEGATIVE_OR_ZERO_RE: Final = re.compile(r"-[0-9]+(?:\.[0-9]+)?|0+(?:\.0+)?")


def _decimal_validator(
    pattern: re.Pattern[str], what: str
) -> Callable[[object, ValidationInfo], Decimal]:
    def validate(value: object, info: ValidationInfo) -> Decimal:
        if isinstance(value, str):
            text = value
        elif isinstance(value, Decimal) and value.is_finite() and not _is_wire(info):
            text = format(value, "f")
        else:
            raise _error("decimal_type", f"must be a JSON string holding a {what}")
        if pattern.fullmatch(text) is None:
            raise _error("decimal_pattern", f'must be a {what} written like "12.5"')
        return Decimal(text)

    return validate


def _format_decimal(value: Decimal) -> str:
    return format(value, "f")  # never exponent notation: "1E-7" is no PACT decimal


_DECIMAL_OUT: Final = PlainSerializer(_format_decimal, return_type=str, when_used="json")

PactDecimal = Annotated[
    Decimal,
    PlainValidator(_decimal_validator(_DECIMAL_RE, "decimal")),
    _DECIMAL_OUT,
]
PositiveOrZeroDecimal = Annotated[
    Decimal,
    PlainValidator(_decimal_validator(_POSITIVE_OR_ZERO_RE, "decimal >= 0")),
    _DECIMAL_OUT,
]
PositiveNonZeroDecimal = Annotated[
    Decimal,
    PlainValidator(_decimal_validator(_POSITIVE_NON_ZERO_RE, "decimal > 0")),
    _DECIMAL_OUT,
]
NegativeOrZeroDecimal = Annotated[
    Decimal,
    PlainValidator(_decimal_validator(_NEGATIVE_OR_ZERO_RE, "decimal <= 0")),
    _DECIMAL_OUT,
]

# --- date-time (RFC 3339), uuid (RFC 4122), uri (RFC 3986) ----------------------------------

_DATE_TIME_RE: Final = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<off_hour>[0-9]{2}):(?P<off_minute>[0-9]{2}))"
)


def parse_date_time(text: str) -> datetime | None:
    """An RFC 3339 date-time as an aware datetime, or None when ``text`` is not one."""
    match = _DATE_TIME_RE.fullmatch(text)
    if match is None:
        return None
    part = match.groupdict()
    offset: timezone = UTC
    if part["sign"] is not None:
        hours, minutes = int(part["off_hour"]), int(part["off_minute"])
        if hours > 23 or minutes > 59:
            return None
        sign = -1 if part["sign"] == "-" else 1
        offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
    fraction = (part["fraction"] or "")[:6].ljust(6, "0")
    try:
        moment = datetime(
            int(part["year"]), int(part["month"]), int(part["day"]),
            int(part["hour"]), int(part["minute"]), int(part["second"]),
            int(fraction), tzinfo=offset,
        )  # fmt: skip
        # An instant that has no UTC time (9999-12-31T23:00-05:00) cannot be compared.
        moment.astimezone(UTC)
    except (ValueError, OverflowError):  # day 31 of a 30-day month, hour 24, second 60 ...
        return None
    return moment


def _validate_date_time(value: object, info: ValidationInfo) -> datetime:
    if isinstance(value, str):
        parsed = parse_date_time(value)
        if parsed is None:
            raise _error("date_time", 'must be an RFC 3339 date-time like "2024-12-31T00:00:00Z"')
        return parsed
    if isinstance(value, datetime) and value.utcoffset() is not None and not _is_wire(info):
        return value
    raise _error("date_time_type", "must be a JSON string holding an RFC 3339 date-time")


def _format_date_time(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _validate_uuid(value: object, info: ValidationInfo) -> UUID:
    if isinstance(value, str):
        if _UUID_RE.fullmatch(value) is None:
            raise _error("uuid", "must be a UUID such as 'f4b1225a-bd44-4c8e-861d-079e4e1dfd69'")
        return UUID(value)
    if isinstance(value, UUID) and not _is_wire(info):
        return value
    raise _error("uuid_type", "must be a JSON string holding a UUID")


def _ipv6_pattern() -> str:
    octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    h16, ipv4 = r"[0-9A-Fa-f]{1,4}", rf"{octet}(?:\.{octet}){{3}}"
    ls32 = rf"(?:{h16}:{h16}|{ipv4})"
    forms = [rf"(?:{h16}:){{6}}{ls32}", rf"::(?:{h16}:){{5}}{ls32}"]
    tails = [rf"(?:{h16}:){{4}}{ls32}", rf"(?:{h16}:){{3}}{ls32}", rf"(?:{h16}:){{2}}{ls32}",
             rf"{h16}:{ls32}", ls32, h16, ""]  # fmt: skip
    forms += [rf"(?:(?:{h16}:){{0,{n}}}{h16})?::{tail}" for n, tail in enumerate(tails)]
    return "|".join(f"(?:{form})" for form in forms)


_UNRESERVED, _SUB_DELIMS, _PCT = r"A-Za-z0-9\-._~", r"!$&'()*+,;=", r"%[0-9A-Fa-f]{2}"
_PCHAR: Final = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_AUTHORITY: Final = (
    rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"  # userinfo
    rf"(?:\[(?:{_ipv6_pattern()}|[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"  # IP-literal
    rf"|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)"  # IPv4address or reg-name
    r"(?::[0-9]*)?"  # port
)
_URI_RE: Final = re.compile(
    rf"[A-Za-z][A-Za-z0-9+\-.]*:"  # scheme
    rf"(?://{_AUTHORITY}(?:/{_PCHAR}*)*|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?|{_PCHAR}+(?:/{_PCHAR}*)*|)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"  # query, fragment
)


def _validate_uri(value: object) -> str:
    if not isinstance(value, str):
        raise _error("uri_type", "must be a JSON string holding a URI")
    if _URI_RE.fullmatch(value) is None:
        raise _error("uri", "must be an absolute URI (RFC 3986)")
    return value


PactDateTime = Annotated[
    datetime,
    PlainValidator(_validate_date_time),
    PlainSerializer(_format_date_time, return_type=str, when_used="json"),
]
PactUuid = Annotated[
    UUID, PlainValidator(_validate_uuid), PlainSerializer(str, return_type=str, when_used="json")
]
Uri = Annotated[str, PlainValidator(_validate_uri)]
NonEmptyString = Annotated[str, StringConstraints(strict=True, min_length=1)]


def _stored_length(value: str) -> str:
    # Records are found by their URNs lower-cased, and lower-casing can lengthen a string
    # ("İ" becomes two code points): the lower-cased form must fit the column too.
    if len(value.lower()) > limits.URN:
        raise _error("urn_length", f"must have at most {limits.URN} characters lower-cased")
    return value


# PACT sets no maxLength; the exchange stores each URN in a column of limits.URN characters
# (it finds records by them), so a longer one is refused here, on every database alike.
Urn = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^[uU][rR][nN]:", max_length=limits.URN),
    AfterValidator(_stored_length),
]

# --- arrays with uniqueItems -------------------------------------------------------------------


def _json_key(value: object) -> Hashable:
    """A key equal for equal JSON values: 1 == 1.0, true != 1, objects ignore key order."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float | Decimal):
        return ("number", value)
    if isinstance(value, str) or value is None:
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(_json_key(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _json_key(item)) for key, item in value.items()))
    if isinstance(value, BaseModel):
        return _json_key(value.model_dump(mode="json", by_alias=True, exclude_unset=True))
    return ("other", value if isinstance(value, Hashable) else id(value))


def _found(kind: str, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=_error(kind, message), loc=(), input=value)


def _validate_with(handler: Callable[[Any], _T], value: Any, found: list[InitErrorDetails]) -> _T:
    """Run ``handler`` and report its errors together with ``found``, so none hides another."""
    if not found:
        return handler(value)
    try:
        handler(value)
    except ValidationError as exc:
        found = [
            InitErrorDetails(type=_error(e["type"], e["msg"]), loc=e["loc"], input=e["input"])
            for e in exc.errors(include_url=False)
        ] + found
    raise ValidationError.from_exception_data("PACT", found)


def _unique_items(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    found: list[InitErrorDetails] = []
    if isinstance(value, list):
        seen: dict[Hashable, int] = {}
        for index, item in enumerate(value):
            first = seen.setdefault(_json_key(item), index)
            if first != index:
                message = f"items must be unique: item {index} repeats item {first}"
                found.append(_found("unique_items", message, value))
                break
    return _validate_with(handler, value, found)


NonEmptyUniqueList = Annotated[list[_T], WrapValidator(_unique_items), MinLen(1)]
NonEmptyList = Annotated[list[_T], MinLen(1)]

# --- models --------------------------------------------------------------------------------------


def _pact_name(name: str) -> str:
    """``biogenic_co2_uptake`` -> ``biogenicCO2Uptake``, ``temporal_dqr`` -> ``temporalDQR``."""
    return to_camel(name).replace("Co2", "CO2").replace("Dqr", "DQR")


class PactModel(BaseModel):
    # strict: no number-to-string or string-to-bool coercion. extra="allow": the schema
    # never forbids additional properties, and keeping them keeps the footprint whole.
    # Never null: Python callers leave optionals out (model_dump(exclude_unset=True)).
    model_config = ConfigDict(
        alias_generator=_pact_name, populate_by_name=True, strict=True, extra="allow", frozen=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise _error("null", "must not be null (leave an optional property out instead)")
        return value


class DataModelExtension(PactModel):
    """A PACT Data Model Extension: ``data`` conforming to the schema at ``dataSchema``."""

    spec_version: str
    data_schema: Uri
    documentation: Uri | None = None
    data: dict[str, Any]


class ProductOrSectorSpecificRule(PactModel):
    operator: Literal["PEF", "EPD International", "Other"]
    rule_names: NonEmptyUniqueList[NonEmptyString]
    other_operator_name: NonEmptyString | None = None


class EmissionFactorSource(PactModel):
    name: NonEmptyString
    version: NonEmptyString


class DataQualityIndicators(PactModel):
    technological_dqr: PactDecimal
    geographical_dqr: PactDecimal
    temporal_dqr: PactDecimal


class Verification(PactModel):
    coverage: Literal["PCF calculation model", "PCF program", "product level"] | None = None
    provider_name: str | None = None
    completed_at: PactDateTime | None = None
    standard_name: str | None = None
    comments: str | None = None


DeclaredUnit = Literal[
    "liter", "kilogram", "cubic meter", "kilowatt hour", "megajoule", "ton kilometer",
    "square meter", "piece", "hour", "megabit second",
]  # fmt: skip
RegionOrSubregion = Literal[
    "Africa", "Americas", "Asia", "Europe", "Oceania", "Australia and New Zealand",
    "Central Asia", "Eastern Asia", "Eastern Europe", "Latin America and the Caribbean",
    "Melanesia", "Micronesia", "Northern Africa", "Northern America", "Northern Europe",
    "Polynesia", "South-eastern Asia", "Southern Asia", "Southern Europe", "Sub-Saharan Africa",
    "Western Asia", "Western Europe",
]  # fmt: skip
_GEOGRAPHY: Final = {
    "geographyRegionOrSubregion": "geography_region_or_subregion",
    "geographyCountry": "geography_country",
    "geographyCountrySubdivision": "geography_country_subdivision",
}


class CarbonFootprint(PactModel):
    """The PCF of ``declared_unit_amount`` x ``declared_unit_of_measurement`` (not of one unit)."""

    declared_unit_of_measurement: DeclaredUnit
    declared_unit_amount: PositiveNonZeroDecimal
    product_mass_per_declared_unit: PactDecimal
    reference_period_start: PactDateTime
    reference_period_end: PactDateTime
    geography_region_or_subregion: RegionOrSubregion | None = None
    geography_country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    geography_country_subdivision: (
        Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")] | None
    ) = None
    boundary_processes_description: str | None = None
    pcf_excluding_biogenic_uptake: PactDecimal
    pcf_including_biogenic_uptake: PactDecimal
    fossil_carbon_content: PositiveOrZeroDecimal
    biogenic_carbon_content: PositiveOrZeroDecimal | None = None
    recycled_carbon_content: PositiveOrZeroDecimal | None = None
    fossil_ghg_emissions: PositiveOrZeroDecimal
    land_use_change_ghg_emissions: PositiveOrZeroDecimal | None = None
    land_carbon_leakage: PositiveOrZeroDecimal | None = None
    land_management_fossil_ghg_emissions: PositiveOrZeroDecimal | None = None
    land_management_biogenic_co2_emissions: PositiveOrZeroDecimal | None = None
    land_management_biogenic_co2_removals: NegativeOrZeroDecimal | None = None
    biogenic_co2_uptake: NegativeOrZeroDecimal | None = None
    biogenic_non_co2_emissions: PositiveOrZeroDecimal | None = None
    land_area_occupation: PositiveOrZeroDecimal | None = None
    aircraft_ghg_emissions: PositiveOrZeroDecimal | None = None
    packaging_emissions_included: bool | None = None
    packaging_ghg_emissions: PositiveOrZeroDecimal | None = None
    packaging_biogenic_carbon_content: PositiveOrZeroDecimal | None = None
    outbound_logistics_ghg_emissions: PositiveOrZeroDecimal | None = None
    ccs_technological_co2_capture_included: bool | None = None
    ccs_technological_co2_capture: NegativeOrZeroDecimal | None = None
    technological_co2_capture_origin: str | None = None
    technological_co2_removals: NegativeOrZeroDecimal | None = None
    ccu_carbon_content: PositiveOrZeroDecimal | None = None
    ccu_calculation_approach: Literal["Cut-off", "Credit"] | None = None
    ccu_credit_certification: Uri | None = None
    ipcc_characterization_factors: NonEmptyUniqueList[
        Annotated[str, StringConstraints(pattern=r"^AR[0-9]+$")]
    ]
    cross_sectoral_standards: NonEmptyUniqueList[str]
    product_or_sector_specific_rules: NonEmptyUniqueList[ProductOrSectorSpecificRule] | None = None
    exempted_emissions_percent: PactDecimal
    exempted_emissions_description: str | None = None
    allocation_rules_description: str | None = None
    secondary_emission_factor_sources: NonEmptyList[EmissionFactorSource] | None = None
    primary_data_share: PactDecimal | None = None
    dqi: DataQualityIndicators | None = None
    verification: Verification | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _one_geography(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        found: list[InitErrorDetails] = []
        if isinstance(data, dict):
            wire = _is_wire(info)
            given = [a for a, n in _GEOGRAPHY.items() if a in data or (not wire and n in data)]
            if len(given) > 1:
                message = f"at most one of {', '.join(_GEOGRAPHY)} may be given, not {given}"
                found.append(_found("geography", message, data))
        return _validate_with(handler, data, found)


class ProductFootprint(PactModel):
    """A PACT v3 ``ProductFootprint``; :func:`parse_product_footprint` reads wire data."""

    id: PactUuid
    spec_version: Annotated[str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9]{8})?$")]
    preceding_pf_ids: NonEmptyUniqueList[PactUuid] | None = None
    created: PactDateTime
    status: Literal["Active", "Deprecated"]
    validity_period_start: PactDateTime | None = None
    validity_period_end: PactDateTime | None = None
    company_name: NonEmptyString
    company_ids: NonEmptyUniqueList[Urn]
    product_description: str
    product_ids: NonEmptyUniqueList[Urn]
    product_classifications: NonEmptyUniqueList[Urn] | None = None
    product_name_company: NonEmptyString
    comment: str | None = None
    pcf: CarbonFootprint
    extensions: list[DataModelExtension] | None = None

    def to_wire(self) -> dict[str, Any]:
        """The PACT JSON object: camelCase names, decimal strings, absent optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


_PLAIN_MESSAGES: Final = {
    "missing": "required property is missing",
    "too_short": "must not be empty",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "string_type": "must be a JSON string",
    "bool_type": "must be a JSON boolean",
}


_Model = TypeVar("_Model", bound=BaseModel)


def parse_wire(model: type[_Model], data: object, *, message: str, prefix: str = "") -> _Model:
    """Validate wire JSON as ``model``, reporting every field error in one ValidationFailed.

    ``details`` name each offending field as ``{"field": "pcf.declaredUnitAmount", ...}``
    (dotted PACT names, list indexes as numbers, ``prefix`` in front).
    """
    try:
        return model.model_validate(
            data, strict=True, by_alias=True, by_name=False, context={_WIRE: True}
        )
    except ValidationError as exc:
        path = (prefix,) if prefix else ()
        details = [
            {
                "field": ".".join(str(part) for part in (*path, *error["loc"])),
                "message": _PLAIN_MESSAGES.get(error["type"], error["msg"]),
            }
            for error in exc.errors(include_url=False)
        ]
        raise ValidationFailed(message, details=details) from exc


def parse_product_footprint(data: object) -> ProductFootprint:
    """Validate a parsed JSON value as a PACT v3 ``ProductFootprint``.

    Raises :class:`~exchange.errors.ValidationFailed` whose ``details`` name every
    offending field (``""`` for the footprint itself).
    """
    return parse_wire(ProductFootprint, data, message=FOOTPRINT_INVALID)

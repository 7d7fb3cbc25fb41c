"""Pure checks of a PACT footprint against the programme's accounting rules it cites.

:func:`cited_codes` finds the citations (see :mod:`exchange.rules.schemas`);
:func:`violations` lists, field by field, how a footprint breaks the rules it cites, given
the stored rules by code. A code with no rule, or a rule that is not (or no longer) listed,
is a violation of its own: such a record is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exchange import quantities
from exchange.pact_wire import ProductFootprint
from exchange.rules.models import AccountingRule, RuleStatus
from exchange.rules.schemas import BOUNDARY_SCHEMA, PROGRAMME_NAME, classifications_of, stages_of

FieldError = dict[str, str]


def _is_ours(name: str | None) -> bool:
    return name is not None and name.strip().casefold() == PROGRAMME_NAME.casefold()


def cited_codes(footprint: ProductFootprint) -> list[tuple[str, str]]:
    """``(field, rule code)`` of every citation of one of the programme's rules."""
    cited: list[tuple[str, str]] = []
    for position, rule in enumerate(footprint.pcf.product_or_sector_specific_rules or ()):
        if rule.operator == "Other" and _is_ours(rule.other_operator_name):
            for index, name in enumerate(rule.rule_names):
                field = f"pcf.productOrSectorSpecificRules.{position}.ruleNames.{index}"
                cited.append((field, name.strip()))
    return cited


def _boundary_extension(footprint: ProductFootprint) -> tuple[str, dict[str, Any]] | None:
    for position, extension in enumerate(footprint.extensions or ()):
        if extension.data_schema == BOUNDARY_SCHEMA:
            return f"extensions.{position}.data", extension.data
    return None


def _check_rule(footprint: ProductFootprint, rule: AccountingRule) -> list[FieldError]:
    errors: list[FieldError] = []
    code = rule.code
    pcf = footprint.pcf
    if pcf.declared_unit_of_measurement != rule.declared_unit:
        errors.append(
            {
                "field": "pcf.declaredUnitOfMeasurement",
                "message": f"rule {code} declares per {rule.declared_unit}, "
                f"not per {pcf.declared_unit_of_measurement}",
            }
        )
    wanted = {urn.lower() for urn in classifications_of(rule)}
    given = {urn.lower() for urn in footprint.product_classifications or ()}
    if wanted and not wanted & given:
        errors.append(
            {
                "field": "productClassifications",
                "message": f"rule {code} covers {', '.join(sorted(wanted))}; name one of them",
            }
        )

    found = _boundary_extension(footprint)
    required = stages_of(rule)
    if found is None:
        errors.append(
            {
                "field": "extensions",
                "message": f"rule {code} needs the system boundary and stages in an "
                f"extension with dataSchema {BOUNDARY_SCHEMA}",
            }
        )
    else:
        where, data = found
        boundary = data.get("systemBoundary")
        if boundary != rule.system_boundary.value:
            errors.append(
                {
                    "field": f"{where}.systemBoundary",
                    "message": f"rule {code} is {rule.system_boundary.value}, not {boundary}",
                }
            )
        stages = data.get("lifeCycleStages")
        covered = set(stages) if isinstance(stages, list) else set()
        missing = [stage.value for stage in required if stage.value not in covered]
        if missing:
            errors.append(
                {
                    "field": f"{where}.lifeCycleStages",
                    "message": f"rule {code} requires the stages {', '.join(missing)}",
                }
            )

    floor = rule.min_primary_data_share
    if floor is not None:
        share = pcf.primary_data_share
        if share is None or share < floor:
            errors.append(
                {
                    "field": "pcf.primaryDataShare",
                    "message": f"rule {code} needs at least {quantities.text(floor)} % primary "
                    f"data, not {'none' if share is None else quantities.text(share)}",
                }
            )
    ceiling = rule.max_dqr
    if ceiling is not None:
        if pcf.dqi is None:
            errors.append(
                {"field": "pcf.dqi", "message": f"rule {code} needs data-quality ratings"}
            )
        else:
            ratings: dict[str, Decimal] = {
                "technologicalDQR": pcf.dqi.technological_dqr,
                "geographicalDQR": pcf.dqi.geographical_dqr,
                "temporalDQR": pcf.dqi.temporal_dqr,
            }
            for name, rating in ratings.items():
                if rating > ceiling:
                    errors.append(
                        {
                            "field": f"pcf.dqi.{name}",
                            "message": f"rule {code} allows at most {quantities.text(ceiling)}, "
                            f"not {quantities.text(rating)}",
                        }
                    )
    return errors


def violations(
    footprint: ProductFootprint, rules: Mapping[str, AccountingRule]
) -> list[FieldError]:
    """How ``footprint`` breaks the rules it cites; empty when it cites none or obeys them."""
    errors: list[FieldError] = []
    for field, code in cited_codes(footprint):
        rule = rules.get(code)
        if rule is None:
            errors.append({"field": field, "message": f"no rule {code} on the programme's list"})
        elif rule.status != RuleStatus.LISTED:
            errors.append(
                {
                    "field": field,
                    "message": f"rule {code} is {rule.status.value}, not listed: "
                    "cite a listed rule",
                }
            )
        else:
            errors.extend(_check_rule(footprint, rule))
    return errors

"""The accounting rules list and the demand catalogue, and rule checks of footprint batches.

Anyone proposes a rule or adds a demand; only a regulator moves a rule along
proposed → assessed → listed → withdrawn (a proposal may also be withdrawn before it is
listed). Each move is a decision appended to the transparency log, which commits to the
rule's content through its digest. Listing a rule answers the open demands for the product
classifications it covers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import lifecycle
from exchange.db import utcnow
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal
from exchange.pact_wire import ProductFootprint
from exchange.rules import check, schemas
from exchange.rules.models import RULE, AccountingRule, RuleDecision, RuleDemand, RuleStatus

# Rules use the existing scopes, like factors: proposing writes, like submitting a record.
WRITE_SCOPE: Final = "footprints:write"


def decisions_of(session: Session, rule: AccountingRule) -> list[RuleDecision]:
    return list(
        session.scalars(
            sa.select(RuleDecision)
            .where(RuleDecision.rule_code == rule.code)
            .order_by(RuleDecision.id)
        )
    )


def propose(session: Session, principal: Principal, data: object) -> AccountingRule:
    principal.require_scope(WRITE_SCOPE)
    item = schemas.parse_rule(data)
    if session.get(AccountingRule, item.code) is not None:
        raise Conflict(
            f"there is a rule {item.code} already",
            details=[{"field": "code", "message": "already used"}],
        )
    now = utcnow()
    rule = AccountingRule(
        code=item.code,
        title=item.title,
        classifications_json=json.dumps(item.classifications),
        standard_basis=item.standard_basis,
        declared_unit=item.declared_unit,
        system_boundary=item.system_boundary,
        required_stages_json=json.dumps([stage.value for stage in item.required_stages]),
        min_primary_data_share=item.min_primary_data_share,
        max_dqr=item.max_dqr,
        status=RULE.check(None, RuleStatus.PROPOSED),
        proposed_by_id=principal.organisation_id,
        status_comment=None,
        created_at=now,
        status_changed_at=now,
    )
    try:
        with session.begin_nested():
            session.add(rule)
    except sa.exc.IntegrityError as exc:
        raise Conflict(
            f"rule {item.code} was proposed meanwhile",
            details=[{"field": "code", "message": "already used"}],
        ) from exc
    return rule


def get_rule(session: Session, code: str) -> AccountingRule:
    rule = session.get(AccountingRule, code)
    if rule is None:
        raise NotFound(f"no rule {code}")
    return rule


def transition(
    session: Session,
    principal: Principal,
    code: str,
    *,
    status: RuleStatus,
    comment: str = "",
) -> AccountingRule:
    """The regulator moves a rule to its next status; the decision is logged."""
    principal.require_scope(WRITE_SCOPE)
    principal.require_role(Role.REGULATOR, "only a regulator moves a rule on the list")
    rule = get_rule(session, code)
    # Lock the rule (PostgreSQL) so two concurrent moves cannot both start from one status.
    session.refresh(rule, with_for_update=True)
    then = ", ".join(s.value for s in RULE.targets(rule.status)) or "nothing (final)"
    RULE.check(
        rule.status, status, refusal=f"rule {code} is {rule.status.value}; it can become {then}"
    )
    comment = lifecycle.reason(
        comment, column=RuleDecision.comment, field="comment", required=False
    )
    now = utcnow()
    rule.status = status
    rule.status_comment = comment or None
    rule.status_changed_at = now
    decision = RuleDecision(
        rule_code=rule.code,
        rule=rule,
        status=status,
        comment=comment,
        decided_by_id=principal.organisation_id,
        decided_at=now,
    )
    RuleDecision.log.append(session, [decision])
    session.add(decision)
    if status == RuleStatus.LISTED:
        covered = schemas.classifications_of(rule)
        if covered:
            session.execute(
                sa.update(RuleDemand)
                .where(RuleDemand.rule_code.is_(None), RuleDemand.classification.in_(covered))
                .values(rule_code=rule.code)
            )
    session.flush()
    return rule


def list_rules(
    session: Session, *, status: RuleStatus | None = None, text: str | None = None
) -> list[AccountingRule]:
    query = sa.select(AccountingRule).order_by(AccountingRule.code)
    if status is not None:
        query = query.where(AccountingRule.status == status)
    if text:
        query = query.where(
            sa.or_(
                sa.func.lower(AccountingRule.title).contains(text.lower(), autoescape=True),
                sa.func.lower(AccountingRule.code).contains(text.lower(), autoescape=True),
                sa.func.lower(AccountingRule.classifications_json).contains(
                    text.lower(), autoescape=True
                ),
            )
        )
    return list(session.scalars(query))


def add_demand(session: Session, principal: Principal, data: object) -> RuleDemand:
    principal.require_scope(WRITE_SCOPE)
    errors: list[dict[str, str]] = []
    body = data if isinstance(data, dict) else {}
    category = body.get("category")
    description = body.get("description", "")
    classification = body.get("classification")
    if not isinstance(category, str) or not category.strip() or len(category) > 300:
        errors.append({"field": "category", "message": "a product category, 1-300 characters"})
    if not isinstance(description, str):
        errors.append({"field": "description", "message": "a string"})
    if classification is not None and (
        not isinstance(classification, str)
        or not classification.lower().startswith("urn:")
        or len(classification) > 300
    ):
        errors.append({"field": "classification", "message": "a product classification URN"})
    if errors:
        raise ValidationFailed("the demand is not valid", details=errors)
    assert isinstance(category, str) and isinstance(description, str)
    assert classification is None or isinstance(classification, str)
    demand = RuleDemand(
        category=category.strip(),
        classification=classification,
        description=description.strip(),
        requested_by_id=principal.organisation_id,
        rule_code=None,
        created_at=utcnow(),
    )
    session.add(demand)
    session.flush()
    return demand


def list_demands(session: Session, *, open_only: bool = False) -> list[RuleDemand]:
    query = sa.select(RuleDemand).order_by(RuleDemand.id)
    if open_only:
        query = query.where(RuleDemand.rule_code.is_(None))
    return list(session.scalars(query))


def check_footprints_against_rules(
    session: Session, footprints: Sequence[ProductFootprint]
) -> list[list[dict[str, str]]]:
    """Per footprint, its field errors against the rules it cites (empty: none broken).

    The cited rules are loaded in one query per batch; a batch citing none costs nothing.
    """
    cited = [check.cited_codes(footprint) for footprint in footprints]
    codes = sorted({code for citations in cited for _, code in citations})
    rules = (
        {
            rule.code: rule
            for rule in session.scalars(
                sa.select(AccountingRule).where(AccountingRule.code.in_(codes))
            )
        }
        if codes
        else {}
    )
    return [
        check.violations(footprint, rules) if citations else []
        for footprint, citations in zip(footprints, cited, strict=True)
    ]

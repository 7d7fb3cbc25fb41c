"""HTTP API of the accounting rules list and the demand catalogue."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from exchange import limits, routing, web
from exchange.errors import BadRequest
from exchange.organisations import access
from exchange.rules import schemas, services
from exchange.rules.models import AccountingRule, RuleStatus

bp = Blueprint("rules", __name__, url_prefix="/api/v1")


class RuleCodeConverter(routing.PathValueConverter):
    """``<rulecode:...>``: a rule's code in a path, as a proposal's code may be written."""

    pattern = schemas.CODE_PATTERN.pattern.removeprefix("^").removesuffix("$")
    max_length = limits.RULE_CODE
    what = f"a rule's code is up to {limits.RULE_CODE} letters, digits, '.', '_' or '-'"
    example = "cn-hainan-tea-2025"


@bp.get("/rules")
def list_rules() -> Response:
    """Every rule (anyone may read the list); filters ``status`` and ``q``."""
    access.optional_principal()
    status_text = request.args.get("status")
    try:
        status = RuleStatus(status_text) if status_text else None
    except ValueError as exc:
        raise BadRequest("status is proposed, assessed, listed or withdrawn") from exc
    rules = services.list_rules(web.session(), status=status, text=request.args.get("q"))
    return jsonify({"data": [schemas.rule_json(rule) for rule in rules]})


@bp.post("/rules")
def propose_rule() -> Response:
    principal = access.require_principal(services.WRITE_SCOPE)
    session = web.session()
    rule = services.propose(session, principal, web.json_body())
    session.commit()
    response = jsonify(schemas.rule_json(rule))
    response.status_code = 201
    response.headers["Location"] = url_for("rules.get_rule", code=rule.code)
    return response


@bp.get("/rules/demands")
def list_demands() -> Response:
    """The demand catalogue; ``open=true`` leaves out the demands a listed rule answers."""
    access.optional_principal()
    demands = services.list_demands(web.session(), open_only=request.args.get("open") == "true")
    return jsonify({"data": [schemas.demand_json(demand) for demand in demands]})


@bp.post("/rules/demands")
def add_demand() -> Response:
    """``{"category": ..., "classification": "urn:...", "description": ...}``."""
    principal = access.require_principal(services.WRITE_SCOPE)
    session = web.session()
    demand = services.add_demand(session, principal, web.json_body())
    session.commit()
    response = jsonify(schemas.demand_json(demand))
    response.status_code = 201
    return response


def _rule_with_decisions(rule: AccountingRule) -> Response:
    body = schemas.rule_json(rule)
    body["decisions"] = [
        {
            "status": decision.status.value,
            "comment": decision.comment,
            "decidedBy": decision.decided_by_id,
            "decidedAt": decision.decided_at.isoformat(),
            "logIndex": decision.log_index,
        }
        for decision in services.decisions_of(web.session(), rule)
    ]
    return jsonify(body)


@bp.get("/rules/<rulecode:code>")
def get_rule(code: str) -> Response:
    """One rule with the logged decisions that moved it."""
    return _rule_with_decisions(services.get_rule(web.session(), code))


@bp.post("/rules/<rulecode:code>/status")
def transition_rule(code: str) -> Response:
    """``{"status": "assessed" | "listed" | "withdrawn", "comment": "..."}`` (regulator)."""
    principal = access.require_principal(services.WRITE_SCOPE)
    body = web.json_object()
    status = web.choice_field(body, "status", RuleStatus)
    comment = web.text_field(body, "comment")
    session = web.session()
    rule = services.transition(session, principal, code, status=status, comment=comment)
    session.commit()
    return _rule_with_decisions(rule)

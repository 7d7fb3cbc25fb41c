"""HTTP API of footprint records: submit envelopes, read, list, share, publish."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy.orm import Session

from exchange import web
from exchange.errors import BadRequest, Unauthenticated, ValidationFailed
from exchange.footprints import services
from exchange.footprints.flows import services as flows
from exchange.footprints.flows.models import FlowKind
from exchange.footprints.models import Disclosure, FootprintRecord, Share
from exchange.footprints.schemas import envelope_json
from exchange.log.services import issue_receipts
from exchange.organisations import access
from exchange.organisations.principals import Principal
from exchange.pact_wire.filters import criteria_from_query

bp = Blueprint("footprints", __name__, url_prefix="/api/v1")


def _meta(record: FootprintRecord, key_status: str | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "signed": record.signed,
        "keyStatusAtReceipt": key_status,
        "owner": record.owner_id,
        "status": record.status.value,
        "disclosure": record.disclosure.value,
        "receivedAt": record.received_at.isoformat(),
        "deprecatedBy": record.deprecated_by_id,
        "logIndex": record.log_index,
    }


def _envelope_texts(
    session: Session, records: Sequence[FootprintRecord], viewer: Principal | None
) -> list[str]:
    statuses = services.key_statuses_at_receipt(session, records)
    # A record whose signed document holds what the caller may not see is served withheld.
    served = services.served_to(session, records, viewer)
    return [
        envelope_json(
            served[record.id],
            services.signature_of(record),
            _meta(record, statuses.get(record.id))
            | ({"withheld": True} if served[record.id] != record.footprint_json else {}),
        )
        for record in records
    ]


def _envelope_text(session: Session, record: FootprintRecord, viewer: Principal | None) -> str:
    return _envelope_texts(session, [record], viewer)[0]


def _json_text(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="application/json")


def _batch_items(body: Any) -> list[Any]:
    items = body["items"]
    if not isinstance(items, list) or not items:
        raise BadRequest('"items" must be a non-empty list')
    maximum = current_app.config["MAX_BATCH_ITEMS"]
    if len(items) > maximum:
        raise BadRequest(f"a batch holds at most {maximum} items; send {len(items)} in parts")
    return items


# What new and shared records set off in the areas above (PACT requests and notifications,
# aggregation staleness): they listen, registered by create_app. RECORDS_ACCEPTED is told
# before the log head is locked (see services.RecordsAccepted), RECORDS_LOGGED once the
# records have their log indexes, under the lock (an attestation logged after its record).
RECORDS_ACCEPTED: Final = web.Hook[[Session, Sequence[services.NewRecord]]](
    "footprints.records-accepted"
)
RECORDS_LOGGED: Final = web.Hook[[Session, Sequence[services.NewRecord]]](
    "footprints.records-logged"
)
RECORD_SHARED: Final = web.Hook[[Session, Share]]("footprints.record-shared")


def _store_and_answer(items: list[Any], *, is_batch: bool, signed: bool) -> Response:
    """Store the items, commit them with their log entries, answer with receipts."""
    principal = access.require_principal("footprints:write")
    session = web.session()
    if signed:
        outcomes = services.submit(
            session,
            principal=principal,
            items=items,
            on_accepted=RECORDS_ACCEPTED,
            on_logged=RECORDS_LOGGED,
            verifier=current_app.extensions["exchange.verifier"],
        )
    else:
        outcomes = services.import_unsigned(
            session,
            principal=principal,
            items=items,
            on_accepted=RECORDS_ACCEPTED,
            on_logged=RECORDS_LOGGED,
        )
    accepted = [outcome for outcome in outcomes if outcome.accepted]
    # Commit first: the log head's lock, which every writer on every node waits for, is
    # held until this commit, and the receipts (a checkpoint signed, a proof and a signature
    # per record) need no lock: they prove entries already committed, against a checkpoint
    # of whatever size the log has reached meanwhile. Should signing fail, the records are
    # stored all the same and a resend answers "unchanged" with their receipts.
    session.commit()
    # The records this request stored were the log's last entries when it committed: the
    # tree up to the last of them holds every accepted record, and its checkpoint is new.
    created = [
        outcome.record.log_index for outcome in accepted if outcome.created and outcome.record
    ]
    receipts = (
        issue_receipts(
            session,
            web.exchange_key(),
            current_app.config["EXCHANGE_ORIGIN"],
            [outcome.record.log_index for outcome in accepted if outcome.record],
            size=max(created) + 1 if created else None,
        )
        if accepted
        else []
    )
    session.commit()
    receipt_by_index = dict(zip((outcome.index for outcome in accepted), receipts, strict=True))

    results: list[dict[str, Any]] = []
    for outcome in outcomes:
        if outcome.accepted and outcome.record is not None:
            results.append(
                {
                    "index": outcome.index,
                    "status": "created" if outcome.created else "unchanged",
                    "id": outcome.record.id,
                    "recordStatus": outcome.record.status.value,
                    "signed": outcome.record.signed,
                    "receipt": receipt_by_index[outcome.index],
                }
            )
        elif outcome.error is not None:
            results.append(
                {
                    "index": outcome.index,
                    "status": "rejected",
                    "error": outcome.error.to_body(),
                    "httpStatus": outcome.error.status,
                }
            )
    if not is_batch:
        only = outcomes[0]
        if only.error is not None:
            raise only.error
        result = results[0]
        response = jsonify(result)
        response.status_code = 201 if only.created else 200
        response.headers["Location"] = url_for("footprints.get_footprint", record_id=result["id"])
        return response
    rejected = sum(1 for outcome in outcomes if not outcome.accepted)
    response = jsonify(
        {"accepted": len(outcomes) - rejected, "rejected": rejected, "results": results}
    )
    response.status_code = 200 if rejected == 0 else 207
    return response


@bp.post("/footprints")
def submit() -> Response:
    """One signed envelope, or ``{"items": [...]}``; a batch answers item by item."""
    access.require_principal("footprints:write")
    body = web.json_body()
    if isinstance(body, dict) and "items" in body and "footprint" not in body:
        return _store_and_answer(_batch_items(body), is_batch=True, signed=True)
    return _store_and_answer([body], is_batch=False, signed=True)


@bp.post("/footprints/import")
def import_unsigned() -> Response:
    """Unsigned PACT footprints exported by another tool, stored as they are and marked so.

    Takes what PACT tools produce unchanged: one ProductFootprint, ``{"items": [...]}``, a
    GetFootprint (``{"data": {...}}``) or ListFootprints (``{"data": [...]}``) response, or a
    RequestFulfilledEvent (``{"data": {"pfs": [...]}}``).
    """
    access.require_principal("footprints:write")
    body = web.json_body(mimetypes=frozenset({"application/json", "application/cloudevents+json"}))
    if not isinstance(body, dict):
        raise BadRequest("send a PACT ProductFootprint or a list of them")
    data = body.get("data")
    if "items" in body:
        return _store_and_answer(_batch_items(body), is_batch=True, signed=False)
    if isinstance(data, dict) and isinstance(data.get("pfs"), list):
        return _store_and_answer(_batch_items({"items": data["pfs"]}), is_batch=True, signed=False)
    if isinstance(data, list):
        return _store_and_answer(_batch_items({"items": data}), is_batch=True, signed=False)
    if isinstance(data, dict) and "pcf" in data:
        return _store_and_answer([data], is_batch=False, signed=False)
    return _store_and_answer([body], is_batch=False, signed=False)


@bp.get("/footprints/<id:record_id>")
def get_footprint(record_id: str) -> Response:
    principal = access.optional_principal()
    session = web.session()
    record = services.get_record(session, principal, record_id)
    if flows.record_reads(session, principal, [record], FlowKind.API_READ):
        session.commit()
    return _json_text(_envelope_text(session, record, principal))


@bp.get("/footprints")
def list_footprints() -> Response:
    """Newest first; takes the PACT filters (productId, status, validOn, ...) too."""
    principal = access.optional_principal()
    owned_only = request.args.get("owner") == "me"
    if owned_only and principal is None:
        raise Unauthenticated("owner=me lists your own records: send your bearer token")
    session = web.session()
    page = services.list_records(
        session,
        principal,
        limit=web.page_limit(),
        cursor=request.args.get("cursor"),
        criteria=criteria_from_query(request.args.items(multi=True)),
        owned_only=owned_only,
    )
    if flows.record_reads(session, principal, page.records, FlowKind.API_READ):
        session.commit()
    body = '{"data":[' + ",".join(_envelope_texts(session, page.records, principal)) + "]"
    headers = {}
    if page.next_cursor:
        args = {**request.args.to_dict(), "cursor": page.next_cursor}
        next_url = url_for("footprints.list_footprints", _external=True, **args)
        body += ',"next":' + current_app.json.dumps(next_url)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return Response(body + "}", mimetype="application/json", headers=headers)


def _share_json(grant: Share) -> dict[str, Any]:
    return {
        "id": grant.id,
        "grantee": grant.grantee_id,
        "recordId": grant.record_id,
        "productId": grant.product_id,
        "createdAt": grant.created_at.isoformat(),
    }


def _optional_text(body: Any, name: str) -> str | None:
    value = body.get(name) if isinstance(body, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(
            f"{name} must be a non-empty string",
            details=[{"field": name, "message": "a non-empty string"}],
        )
    return value.strip()


def _required_text(body: Any, name: str) -> str:
    value = _optional_text(body, name)
    if value is None:
        raise ValidationFailed(
            f"{name} is required", details=[{"field": name, "message": "required"}]
        )
    return value


@bp.post("/shares")
def create_share() -> Response:
    """Grant ``{"organisationId", "recordId"}`` or ``{"organisationId", "productId"}``."""
    principal = access.require_principal("footprints:write")
    body = web.json_body()
    grantee = _required_text(body, "organisationId")
    session = web.session()
    grant = services.share(
        session,
        principal,
        grantee_id=grantee,
        record_id=_optional_text(body, "recordId"),
        product_id=_optional_text(body, "productId"),
    )
    RECORD_SHARED(session, grant)
    session.commit()
    response = jsonify(_share_json(grant))
    response.status_code = 201
    return response


@bp.get("/shares")
def list_shares() -> Response:
    principal = access.require_principal("footprints:read")
    return jsonify(
        {"data": [_share_json(grant) for grant in services.shares_of(web.session(), principal)]}
    )


@bp.delete("/shares/<rowid:share_id>")
def delete_share(share_id: int) -> Response:
    principal = access.require_principal("footprints:write")
    session = web.session()
    services.unshare(session, principal, share_id=share_id)
    session.commit()
    return Response(status=204)


@bp.put("/footprints/<id:record_id>/disclosure")
def put_disclosure(record_id: str) -> Response:
    """``{"disclosure": "public" | "regulator" | "private"}``."""
    principal = access.require_principal("footprints:write")
    text = _required_text(web.json_body(), "disclosure")
    try:
        disclosure = Disclosure(text)
    except ValueError as exc:
        raise ValidationFailed(
            "disclosure is private, regulator or public",
            details=[{"field": "disclosure", "message": "private, regulator or public"}],
        ) from exc
    session = web.session()
    record = services.set_disclosure(session, principal, record_id=record_id, disclosure=disclosure)
    session.commit()
    return _json_text(_envelope_text(session, record, principal))

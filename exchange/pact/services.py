"""The PACT v3 host: footprints as PACT serves them, footprint requests, and events.

A request (a PACT ``RequestCreatedEvent``, or one made in the hub) is answered at once
when the requester can already see matching footprints; otherwise it stays open for the
supplier it names, whose next matching record answers it; a request nobody here can
answer is rejected. Answers and notifications to another PACT host are queued as jobs
and delivered by ``exchange worker`` (see :func:`deliver_event`).
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import outbound, pact_wire, signing
from exchange.db import transaction, utcnow
from exchange.errors import BadRequest, Conflict, NotFound, ValidationFailed
from exchange.footprints import services as footprints
from exchange.footprints.flows import services as flows
from exchange.footprints.flows.models import FlowKind
from exchange.footprints.models import FootprintProduct, FootprintRecord, Share
from exchange.footprints.services import visible_to
from exchange.jobs.services import JobContext, JobFailed, enqueue
from exchange.keyring import ExchangeKey, open_secret, seal_secret
from exchange.organisations.models import CompanyIdentifier, Organisation, OrganisationRole, Role
from exchange.organisations.principals import Principal
from exchange.pact.models import EventEndpoint, FootprintRequest, ReceivedEvent, RequestStatus
from exchange.pact_wire.filters import Criteria, criteria_from_json, criteria_from_request
from exchange.pact_wire.host import Host

logger = logging.getLogger(__name__)

DELIVER_EVENT: Final = "pact.deliver-event"
# Footprints sent in one RequestFulfilledEvent at most; a wider request should be narrowed.
MAX_FULFILLED: Final = 1000
HTTP_TIMEOUT: Final = 15.0
BASE_URL_LENGTH: Final = 500  # the events_endpoints.base_url column


# --- footprints as PACT serves them ------------------------------------------------------


# A stored footprint's top level taken apart, each member's value kept as its raw JSON.
_MEMBERS: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ITEMS: Final = msgspec.json.Decoder(list[msgspec.Raw])


def pact_footprint_json(
    record: FootprintRecord, host: Host, *, footprint_json: str | None = None
) -> bytes:
    """The record as a PACT ProductFootprint, its signature in a DataModelExtension.

    The footprint is served as signed except for its current ``status`` (a successor may
    have deprecated it since). To verify: remove the extension whose ``dataSchema`` is
    ours (and the ``extensions`` member if ``data.extensionsMember`` is false), set
    ``status`` back to ``data.signedStatus``, and check ``data.value`` over
    ``footprint-exchange:footprint:v1\\n`` + the RFC 8785 form under key ``data.kid``.

    ``footprint_json``: the form the reader is served (see
    :func:`exchange.footprints.services.served_footprints`) when it is not the signed one;
    then ``data.withheld`` is true and the signature does not cover it.

    Every member but ``status`` and ``extensions`` is served as the stored canonical bytes
    (only the top level is taken apart): a page of footprints costs no parsing and
    re-serialising of what their owners signed.
    """
    served = record.footprint_json if footprint_json is None else footprint_json
    members: dict[str, Any] = _MEMBERS.decode(served)
    signed_status = msgspec.json.decode(members["status"])
    members["status"] = msgspec.Raw(msgspec.json.encode(record.status.value))
    data: dict[str, Any] = {
        "signed": record.signed,
        "signedStatus": signed_status,
        "extensionsMember": "extensions" in members,
        "logIndex": record.log_index,
        "owner": record.owner_id,
    }
    if served != record.footprint_json:
        data["withheld"] = True
    if record.signed:
        data |= {
            "alg": signing.ALGORITHM,
            "context": signing.FOOTPRINT_CONTEXT,
            "kid": record.signature_kid,
            "value": record.signature,
        }
    extension = {"specVersion": "2.0.0", "dataSchema": host.extension_schema, "data": data}
    earlier = _ITEMS.decode(members["extensions"]) if "extensions" in members else []
    members["extensions"] = [*earlier, extension]
    return msgspec.json.encode(members)


def pact_footprint(
    record: FootprintRecord, host: Host, *, footprint_json: str | None = None
) -> dict[str, Any]:
    """:func:`pact_footprint_json` as a document, for an event that carries footprints."""
    document: dict[str, Any] = json.loads(
        pact_footprint_json(record, host, footprint_json=footprint_json)
    )
    return document


def signed_footprint_of(
    served: dict[str, Any], host: Host
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Undo :func:`pact_footprint`: the footprint as its owner signed it, and our extension."""
    footprint = dict(served)
    extensions = list(footprint.get("extensions", []))
    ours = [e for e in extensions if e.get("dataSchema") == host.extension_schema]
    if len(ours) != 1:
        raise ValidationFailed("the footprint carries no signature extension of this exchange")
    extension = ours[0]
    rest = [e for e in extensions if e is not extension]
    if rest or extension["data"]["extensionsMember"]:
        footprint["extensions"] = rest
    else:
        footprint.pop("extensions")
    footprint["status"] = extension["data"]["signedStatus"]
    return footprint, extension


def signature_extension_schema(host: Host) -> dict[str, Any]:
    """The JSON Schema that ``dataSchema`` of our extension names."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": host.extension_schema,
        "title": "Footprint Exchange signature",
        "description": (
            "The owner's Ed25519 signature of a ProductFootprint. It covers the footprint "
            "without this extension (and without the extensions member when extensionsMember "
            "is false) and with status set to signedStatus, in RFC 8785 form, after the line "
            "'footprint-exchange:footprint:v1' and a newline. Keys: "
            "/api/v1/organisations/<owner>/jwks.json. An imported footprint has signed=false."
        ),
        "type": "object",
        "required": ["signed", "signedStatus", "extensionsMember", "logIndex", "owner"],
        "properties": {
            "signed": {"type": "boolean"},
            "signedStatus": {"enum": ["Active", "Deprecated"]},
            "extensionsMember": {"type": "boolean"},
            "logIndex": {"type": "integer", "minimum": 0},
            "owner": {"type": "string"},
            "alg": {"const": "Ed25519"},
            "context": {"const": signing.FOOTPRINT_CONTEXT},
            "kid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
            "value": {"type": "string", "pattern": "^[A-Za-z0-9_-]{86}$"},
        },
    }


# --- events we send ----------------------------------------------------------------------


def new_event(event_type: str, data: dict[str, Any], host: Host) -> dict[str, Any]:
    return {
        "type": event_type,
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": host.base_url,
        "time": utcnow().isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def _queue_event(session: Session, recipient_id: str, event: dict[str, Any]) -> None:
    enqueue(session, kind=DELIVER_EVENT, payload={"recipient": recipient_id, "event": event})


def _event_record_ids(event: dict[str, Any]) -> list[str] | None:
    """The records an event carries or names, or None for one that carries none."""
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    if event.get("type") == pact_wire.PUBLISHED and isinstance(data.get("pfIds"), list):
        return [str(pf_id).lower() for pf_id in data["pfIds"]]
    if event.get("type") == pact_wire.REQUEST_FULFILLED and isinstance(data.get("pfs"), list):
        return [str(pf.get("id", "")).lower() for pf in data["pfs"] if isinstance(pf, dict)]
    return None


def _our_extension(pf: dict[str, Any], source: str) -> dict[str, Any]:
    """The signature extension :func:`pact_footprint` added to ``pf`` (an event's source
    is the host's base URL); an empty one when it has none."""
    schema = Host(base_url=source).extension_schema
    for extension in pf.get("extensions") or ():
        if (
            isinstance(extension, dict)
            and extension.get("dataSchema") == schema
            and isinstance(extension.get("data"), dict)
        ):
            return extension
    return {"data": {}}


def _with_log_indexes(
    event: dict[str, Any], records: Mapping[str, FootprintRecord]
) -> dict[str, Any]:
    """A RequestFulfilled event with each footprint's ``logIndex`` as the log gave it.

    The event is queued in the transaction that stores its records, before the log gives
    them their indexes (so that the log head is not locked for it); the index is final
    once that transaction commits, which is before any worker can take the event.
    """
    if event.get("type") != pact_wire.REQUEST_FULFILLED:
        return event
    pfs = []
    for pf in event["data"]["pfs"]:
        record = records.get(str(pf.get("id", "")).lower())
        if record is not None:
            pf = copy.deepcopy(pf)
            _our_extension(pf, str(event.get("source", "")))["data"]["logIndex"] = record.log_index
        pfs.append(pf)
    return {**event, "data": {**event["data"], "pfs": pfs}}


def _still_granted(
    session: Session, recipient: flows.Recipient, event: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[FootprintRecord], list[FootprintRecord]]:
    """The event as it may go out now, the records it delivers and those it may no longer.

    A share withdrawn (or a record made private) after the event was queued must stop the
    delivery: the grant is checked again when the outbox delivers, not only when it queued.
    None: every record the event carried was withdrawn, so nothing is sent.
    """
    record_ids = _event_record_ids(event)
    if not record_ids:
        return event, [], []
    visible = visible_to(recipient.organisation_id, regulator=recipient.regulator)
    allowed = {
        record.id: record
        for record in session.scalars(
            sa.select(FootprintRecord).where(FootprintRecord.id.in_(record_ids), visible)
        )
    }
    refused = list(
        session.scalars(
            sa.select(FootprintRecord).where(
                FootprintRecord.id.in_(sorted(set(record_ids) - set(allowed)))
            )
        )
    )
    if not allowed:
        return None, [], refused
    event = _with_log_indexes(event, allowed)
    if len(allowed) == len(set(record_ids)):
        return event, list(allowed.values()), refused
    data = dict(event["data"])
    if event["type"] == pact_wire.PUBLISHED:
        data["pfIds"] = [pf_id for pf_id in data["pfIds"] if str(pf_id).lower() in allowed]
    else:
        data["pfs"] = [pf for pf in data["pfs"] if str(pf.get("id", "")).lower() in allowed]
    return {**event, "data": data}, list(allowed.values()), refused


def deliver_event(context: JobContext, payload: dict[str, Any]) -> None:
    """Job handler: a token from the recipient's host, then the event to its ``/3/events``.

    The records the event carries are checked against the recipient's grants again first;
    withdrawn ones are left out and recorded as refused, and an event left with none of
    its records is not sent at all. Each record delivered is recorded as a data flow.
    """
    with transaction(context.sessions) as session:
        endpoint = session.get(EventEndpoint, payload["recipient"])
        if endpoint is None:
            raise JobFailed("the recipient has no events endpoint registered any more")
        base_url, client_id = endpoint.base_url, endpoint.client_id
        secret = open_secret(context.exchange_key, endpoint.sealed_secret)
        regulator = session.get(OrganisationRole, (payload["recipient"], Role.REGULATOR))
        recipient = flows.Recipient(payload["recipient"], regulator=regulator is not None)
        event, delivering, refused = _still_granted(session, recipient, payload["event"])
        event_id = str(payload["event"].get("id", ""))[:100] or None
        flows.record_flows(
            session, recipient, refused, FlowKind.PACT_DELIVERY_REFUSED, reference=event_id
        )
        delivering_ids = [record.id for record in delivering]
    if event is None:
        logger.info("event %s not delivered: its records are no longer shared", event_id)
        return
    try:
        # Checked again now: a name may resolve elsewhere than when it was registered.
        _check_public_host(
            urlsplit(base_url).hostname or "",
            allow_private=context.config["EVENTS_ALLOW_PRIVATE_HOSTS"],
            resolve=True,
        )
    except ValidationFailed as exc:
        raise JobFailed(f"{base_url}: {exc.message}") from exc
    try:
        token_response = requests.post(
            f"{base_url}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
        )
        if token_response.status_code != 200:
            raise JobFailed(f"token request answered {token_response.status_code}")
        token = token_response.json()["access_token"]
        response = requests.post(
            f"{base_url}/3/events",
            data=json.dumps(event, ensure_ascii=False).encode("utf-8"),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/cloudevents+json; charset=UTF-8",
            },
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
        )
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise JobFailed(f"{base_url}: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise JobFailed(f"{base_url}/3/events answered {response.status_code}")
    if delivering_ids:
        with transaction(context.sessions) as session:
            records = session.scalars(
                sa.select(FootprintRecord).where(FootprintRecord.id.in_(delivering_ids))
            )
            flows.record_flows(
                session, recipient, records, FlowKind.PACT_DELIVERY, reference=event_id
            )


def _check_public_host(host: str, *, allow_private: bool, resolve: bool) -> None:
    """:func:`exchange.outbound.check_public_host` (the one rule; kept under this name for
    its other callers): ``resolve`` says that the name must resolve (before connecting)."""
    outbound.check_public_host(host, allow_private=allow_private, must_resolve=resolve)


# --- events endpoints of other hosts ------------------------------------------------------


def normalise_base_url(url: str) -> str:
    """A PACT host's base URL as we compare it: no trailing slash, no ``/3/events``."""
    text = url.strip()
    if text.startswith("//"):
        text = "https:" + text
    text = text.rstrip("/")
    if text.endswith("/3/events"):
        text = text[: -len("/3/events")]
    return text.rstrip("/")


def register_endpoint(
    session: Session,
    principal: Principal,
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    key: ExchangeKey,
    allow_private: bool = False,
) -> EventEndpoint:
    """Where the caller's own PACT host takes events, and the credentials it gave us.

    ``allow_private`` admits hosts on loopback and private networks (tests, a partner on
    the same site); a production exchange keeps it off.
    """
    principal.require_scope("footprints:write")
    base = normalise_base_url(base_url)
    errors: list[dict[str, str]] = []
    try:
        parts = urlsplit(base)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
        or not port_ok
        or len(base) > BASE_URL_LENGTH
    ):
        # PACT hosts answer over HTTPS only, and a plain-HTTP target would send the
        # credentials we hold for it in clear.
        errors.append(
            {
                "field": "baseUrl",
                "message": "an absolute https URL without user, query or fragment",
            }
        )
    else:
        try:
            _check_public_host(parts.hostname, allow_private=allow_private, resolve=False)
        except ValidationFailed as exc:
            errors += exc.details
    if not client_id.strip() or len(client_id.strip()) > 300:
        errors.append({"field": "clientId", "message": "required, at most 300 characters"})
    if not client_secret:
        errors.append({"field": "clientSecret", "message": "required"})
    if errors:
        raise ValidationFailed("the events endpoint is not valid", details=errors)
    endpoint = session.get(EventEndpoint, principal.organisation_id)
    if endpoint is None:
        endpoint = EventEndpoint(organisation_id=principal.organisation_id)
        session.add(endpoint)
    endpoint.base_url = base
    endpoint.client_id = client_id.strip()
    endpoint.sealed_secret = seal_secret(key, client_secret)
    endpoint.updated_at = utcnow()
    session.flush()
    return endpoint


def endpoint_of(session: Session, principal: Principal) -> EventEndpoint:
    endpoint = session.get(EventEndpoint, principal.organisation_id)
    if endpoint is None:
        raise NotFound("your organisation has no events endpoint registered")
    return endpoint


# --- requests --------------------------------------------------------------------------


def _supplier_for(session: Session, criteria: Criteria) -> str | None:
    """The one organisation a request names by its company ids (a public fact), if any.

    Never inferred from product ids: that would tell the requester who holds a product it
    may not see, and route it a supplier's future records unasked.
    """
    if not criteria.company_ids:
        return None
    owners = set(
        session.scalars(
            sa.select(CompanyIdentifier.organisation_id).where(
                sa.func.lower(CompanyIdentifier.urn).in_(sorted(criteria.company_ids))
            )
        )
    )
    return owners.pop() if len(owners) == 1 else None


def _fulfil(
    session: Session,
    request: FootprintRequest,
    records: Sequence[FootprintRecord],
    host: Host,
    *,
    grant: bool,
) -> None:
    """Answer with ``records``, tell the requester's host if it has one.

    ``grant``: the supplier answers with records of its own (by pushing or naming them), which
    the requester is given; records it could already see are sent as they are, no more.
    """
    request.status = RequestStatus.FULFILLED
    request.answered_at = utcnow()
    request.answer = {"pfIds": [record.id for record in records]}
    if grant:
        for record in records:
            footprints.grant_record(session, record, grantee_id=request.requester_id)
    if request.event_id is not None:
        served = footprints.served_footprints(session, records, viewer_id=request.requester_id)
        pfs = [pact_footprint(record, host, footprint_json=served[record.id]) for record in records]
        for pf in pfs:
            # Given on delivery: a record just submitted is not logged yet (its index is
            # set later in this transaction, with the log head locked).
            _our_extension(pf, host.base_url)["data"].pop("logIndex", None)
        data = {"requestEventId": request.event_id, "pfs": pfs}
        _queue_event(
            session, request.requester_id, new_event(pact_wire.REQUEST_FULFILLED, data, host)
        )
    session.flush()


def _reject(
    session: Session, request: FootprintRequest, code: str, message: str, host: Host
) -> None:
    request.status = RequestStatus.REJECTED
    request.answered_at = utcnow()
    request.answer = {"error": {"code": code, "message": message}}
    if request.event_id is not None:
        data = {"requestEventId": request.event_id, "error": {"code": code, "message": message}}
        _queue_event(
            session, request.requester_id, new_event(pact_wire.REQUEST_REJECTED, data, host)
        )
    session.flush()


def _open_request(
    session: Session,
    requester: Principal,
    criteria: Criteria,
    host: Host,
    *,
    supplier_id: str | None,
    comment: str | None,
    event: pact_wire.CloudEvent | None = None,
) -> FootprintRequest:
    request = FootprintRequest(
        id=str(uuid.uuid4()),
        requester_id=requester.organisation_id,
        supplier_id=supplier_id,
        criteria=criteria.to_json(),
        comment=comment,
        status=RequestStatus.OPEN,
        event_id=event.id if event else None,
        event_source=event.source if event else None,
        created_at=utcnow(),
        answered_at=None,
        answer=None,
    )
    session.add(request)
    session.flush()
    visible = footprints.matching_records(session, requester, criteria, limit=MAX_FULFILLED)
    if supplier_id is not None:
        visible = [record for record in visible if record.owner_id == supplier_id]
    if visible:
        _fulfil(session, request, visible, host, grant=False)
    elif supplier_id is None:
        _reject(
            session, request, "NotFound", "no footprint matches the request on this exchange", host
        )
    return request


def create_request(
    session: Session,
    principal: Principal,
    *,
    supplier_id: str,
    criteria: Criteria,
    comment: str | None,
    host: Host,
) -> FootprintRequest:
    """A request made in the hub to one supplier; answered now if its records already match."""
    principal.require_scope("footprints:read")
    if session.get(Organisation, supplier_id) is None:
        raise NotFound(f"no organisation {supplier_id}")
    if supplier_id == principal.organisation_id:
        raise ValidationFailed(
            "you cannot request footprints from yourself",
            details=[{"field": "supplierId", "message": "another organisation"}],
        )
    if criteria == Criteria() or criteria.unsatisfiable:
        raise ValidationFailed(
            "say which footprints you need (productId, companyId, classification, ...)",
            details=[{"field": "criteria", "message": "at least one valid criterion"}],
        )
    return _open_request(
        session, principal, criteria, host, supplier_id=supplier_id, comment=comment
    )


def list_requests(
    session: Session, principal: Principal, *, incoming: bool, status: RequestStatus | None
) -> list[FootprintRequest]:
    """Requests the caller made, or (``incoming``) the ones addressed to it, newest first."""
    principal.require_scope("footprints:read")
    mine = FootprintRequest.supplier_id if incoming else FootprintRequest.requester_id
    query = sa.select(FootprintRequest).where(mine == principal.organisation_id)
    if status is not None:
        query = query.where(FootprintRequest.status == status)
    return list(
        session.scalars(
            query.order_by(FootprintRequest.created_at.desc(), FootprintRequest.id).limit(1000)
        )
    )


def _incoming_open(session: Session, principal: Principal, request_id: str) -> FootprintRequest:
    request = session.get(FootprintRequest, request_id)
    if request is None or principal.organisation_id not in {
        request.supplier_id,
        request.requester_id,
    }:
        raise NotFound(f"no request {request_id}")
    if request.supplier_id != principal.organisation_id:
        raise NotFound(f"no request {request_id} addressed to you")
    if request.status != RequestStatus.OPEN:
        raise Conflict(f"request {request_id} is {request.status.value} already")
    return request


def reject_request(
    session: Session, principal: Principal, *, request_id: str, message: str, host: Host
) -> FootprintRequest:
    principal.require_scope("footprints:write")
    request = _incoming_open(session, principal, request_id)
    _reject(session, request, "NotFound", message.strip() or "the supplier declined", host)
    return request


def fulfil_request(
    session: Session,
    principal: Principal,
    *,
    request_id: str,
    record_ids: Sequence[str],
    host: Host,
) -> FootprintRequest:
    """The supplier answers with records it holds already; each must meet the criteria."""
    principal.require_scope("footprints:write")
    request = _incoming_open(session, principal, request_id)
    if not record_ids:
        raise ValidationFailed(
            "name the records that answer the request",
            details=[{"field": "recordIds", "message": "at least one"}],
        )
    criteria = criteria_from_json(request.criteria)
    records: list[FootprintRecord] = []
    errors: list[dict[str, str]] = []
    for position, record_id in enumerate(record_ids):
        try:
            record = footprints.own_record(session, principal, record_id)
        except NotFound as exc:
            errors.append({"field": f"recordIds.{position}", "message": exc.message})
            continue
        if not criteria.matches(footprints.terms_of_record(record), record.status.value):
            errors.append(
                {"field": f"recordIds.{position}", "message": "does not meet the request"}
            )
        records.append(record)
    if errors:
        raise ValidationFailed("these records cannot answer the request", details=errors)
    _fulfil(session, request, records, host, grant=True)
    return request


def records_accepted(
    session: Session, created: Sequence[footprints.NewRecord], *, host: Host
) -> None:
    """New records answer their owner's open requests and notify the customers who get them.

    Told before the records are logged (the log head is not locked, so two submissions of
    one supplier run this side by side): the open requests are locked, and a request
    another submission fulfilled meanwhile is no longer open when the lock is granted, so
    each is answered once. The answer's event is given the records' log indexes when it
    is sent (:func:`deliver_event`).
    """
    if not created:
        return
    owner_id = created[0].record.owner_id
    answered: set[str] = set()
    open_requests = session.scalars(
        sa.select(FootprintRequest)
        .where(
            FootprintRequest.supplier_id == owner_id,
            FootprintRequest.status == RequestStatus.OPEN,
        )
        .order_by(FootprintRequest.id)  # one order of row locks for every submission
        .with_for_update()
    )
    for request in list(open_requests):
        criteria = criteria_from_json(request.criteria)
        matching = [
            item.record
            for item in created
            if criteria.matches(item.terms, item.record.status.value)
        ]
        if matching:
            _fulfil(session, request, matching, host, grant=True)
            answered.add(request.requester_id)
    _notify_grantees(session, owner_id, [item.record.id for item in created], host, answered)


def _notify_grantees(
    session: Session, owner_id: str, record_ids: Iterable[str], host: Host, skip: set[str]
) -> None:
    """A PublishedEvent to each organisation with an events endpoint that may see them."""
    ids = sorted(set(record_ids))
    by_record = sa.select(Share.grantee_id, Share.record_id).where(
        Share.owner_id == owner_id, Share.record_id.in_(ids)
    )
    by_product = (
        sa.select(Share.grantee_id, FootprintProduct.record_id)
        .join(FootprintProduct, FootprintProduct.product_id == Share.product_id)
        .where(Share.owner_id == owner_id, FootprintProduct.record_id.in_(ids))
    )
    rows = session.execute(
        sa.union(by_record, by_product)
        .subquery()
        .select()
        .where(sa.literal_column("grantee_id").in_(sa.select(EventEndpoint.organisation_id)))
    )
    pf_ids: dict[str, set[str]] = {}
    for grantee_id, record_id in rows:
        if grantee_id not in skip:
            pf_ids.setdefault(grantee_id, set()).add(record_id)
    for grantee_id, granted in sorted(pf_ids.items()):
        data = {"pfIds": sorted(granted)}
        _queue_event(session, grantee_id, new_event(pact_wire.PUBLISHED, data, host))


def record_shared(session: Session, grant: Share, host: Host) -> None:
    """Tell the new grantee's host which footprints it may now fetch."""
    if grant.record_id is not None:
        record_ids = [grant.record_id]
    else:
        record_ids = list(
            session.scalars(
                sa.select(FootprintRecord.id)
                .join(FootprintProduct, FootprintProduct.record_id == FootprintRecord.id)
                .where(
                    FootprintRecord.owner_id == grant.owner_id,
                    FootprintProduct.product_id == grant.product_id,
                )
            )
        )
    if record_ids and session.get(EventEndpoint, grant.grantee_id) is not None:
        data = {"pfIds": sorted(record_ids)}
        _queue_event(session, grant.grantee_id, new_event(pact_wire.PUBLISHED, data, host))


# --- events we receive -------------------------------------------------------------------


def receive_event(session: Session, principal: Principal, body: object, host: Host) -> None:
    """Validate and act on one CloudEvent; a repeat of an event already taken changes nothing."""
    principal.require_scope("footprints:read")
    event, data = pact_wire.parse_event(body)
    if isinstance(data, pact_wire.RequestCreatedData):
        endpoint = session.get(EventEndpoint, principal.organisation_id)
        if endpoint is None:
            raise BadRequest(
                "register your PACT host's events endpoint first "
                "(PUT /api/v1/events-endpoint): the answer is sent there"
            )
        if normalise_base_url(event.source) != endpoint.base_url:
            raise BadRequest(
                f"source {event.source!r} is not your registered events endpoint "
                f"{endpoint.base_url!r}",
                details=[{"field": "source", "message": "must be your registered host"}],
            )
    try:
        # Recorded first, so that a repeat arriving at the same moment on another worker
        # fails on the unique constraint instead of being acted on twice.
        with session.begin_nested():
            session.add(
                ReceivedEvent(
                    sender_id=principal.organisation_id,
                    source=event.source,
                    event_id=event.id,
                    type=event.type,
                    body=body if isinstance(body, dict) else {},
                    received_at=utcnow(),
                )
            )
    except sa.exc.IntegrityError:
        return
    if isinstance(data, pact_wire.RequestCreatedData):
        criteria = criteria_from_request(data)
        _open_request(
            session,
            principal,
            criteria,
            host,
            supplier_id=_supplier_for(session, criteria),
            comment=data.comment,
            event=event,
        )

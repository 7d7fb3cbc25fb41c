"""Federation: pull a partner's new records from its PACT host, verify them and its log.

A sync asks the partner's host for a token (client credentials), then walks
``/3/footprints`` (with the partner's filters) page by page along the ``Link`` headers,
newest first, until it meets the newest record of the last complete walk. Each page is
decided and committed with the link to the next one, so an interrupted sync resumes where
it stopped. Requests are retried with exponential backoff; a host still unreachable after
that stops the sync before the page it was checking is decided (an outage is no evidence
against a record, while a definite answer, a 404 for the owner's keys say, is).

Where the partner keeps a transparency log, its signed checkpoint is checked against the
last one we saw: a consistency proof between them must hold, and two checkpoints of one
size must have one root. A fork suspends the partner at once, keeping both checkpoints
and the proof as evidence; every record is checked for inclusion under the checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from exchange import signing
from exchange.aggregation.services import records_accepted as aggregation_records_accepted
from exchange.db import transaction, utcnow
from exchange.errors import ExchangeError, ValidationFailed
from exchange.footprints.models import FootprintRecord
from exchange.footprints.services import NewRecord, RecordsAccepted
from exchange.jobs.models import Job, JobStatus
from exchange.jobs.services import JobContext, enqueue
from exchange.keyring import ExchangeKey, SealedSecretError, open_secret
from exchange.log import merkle, note
from exchange.mutual_recognition.services.programmes import (
    accept_trust_list,
    change_partner_status,
    flag_key_revoked,
)
from exchange.mutual_recognition.services.recognition import (
    Inbound,
    LogEvidence,
    Reason,
    decide,
    footprint_digest,
    previous_decision,
)
from exchange.pact.services import _check_public_host
from exchange.pact.services import records_accepted as pact_records_accepted
from exchange.pact_wire.host import SIGNATURE_EXTENSION_PATH, Host
from exchange.partners.models import (
    Agreement,
    Decision,
    PartnerCheckpoint,
    PartnerFork,
    PartnerProgramme,
    PartnerStatus,
    Recognition,
)
from exchange.partners.services import valid_anchors

logger = logging.getLogger(__name__)

SYNC_JOB: Final = "partners.sync"
HTTP_TIMEOUT: Final = 15.0
PAGE_SIZE: Final = 100


class SyncError(Exception):
    """The partner's host could not be reached or answered nonsense; the sync resumes later."""


class HostUnavailable(SyncError):
    """The partner's host did not answer, even after retries (a connection error, 429 or a
    5xx): no evidence about any record, so the sync stops and resumes where it stopped."""


@dataclasses.dataclass(slots=True)
class SyncReport:
    partner_id: str
    recognised: int = 0
    refused: int = 0
    skipped: int = 0
    pages: int = 0
    fork: str | None = None
    error: str | None = None
    anchors_added: list[str] = dataclasses.field(default_factory=list)
    # Records of ours the partner served back (it recognised them): left, never decided.
    own: int = 0
    # Recognitions flagged because the partner now publishes their signer's key revoked.
    flagged: list[str] = dataclasses.field(default_factory=list)
    # Whether the walk reached the records the last complete sync began at (or the end).
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "partnerId": self.partner_id,
            "recognised": self.recognised,
            "refused": self.refused,
            "skipped": self.skipped,
            "pages": self.pages,
            "fork": self.fork,
            "error": self.error,
            "anchorsAdded": self.anchors_added,
            "own": self.own,
            "flagged": self.flagged,
            "complete": self.complete,
        }


class PartnerClient:
    """A PACT client of one partner host: token, pages, and the log's proofs."""

    def __init__(
        self,
        base_url: str,
        client_id: str | None,
        client_secret: str | None,
        *,
        http: requests.Session | None = None,
        attempts: int = 5,
        timeout: float = HTTP_TIMEOUT,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.http = http or requests.Session()
        self.attempts = attempts
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self._token: str | None = None

    def _send(self, method: str, url: str, **options: Any) -> requests.Response:
        """One request, retried on connection errors, 429 and 5xx with exponential backoff."""
        last = ""
        for attempt in range(self.attempts):
            try:
                response = self.http.request(
                    method, url, timeout=self.timeout, allow_redirects=False, **options
                )
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                last = f"{url} answered {response.status_code}"
            if attempt + 1 < self.attempts:
                delay = min(self.backoff_base * (2**attempt), self.backoff_cap)
                self.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 (jitter)
        raise HostUnavailable(f"{last} (after {self.attempts} attempts)")

    def token(self) -> str:
        if self.client_id is None or self.client_secret is None:
            raise SyncError("no client credentials for the partner's host are registered")
        response = self._send(
            "POST",
            f"{self.base_url}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
        )
        if response.status_code != 200:
            raise SyncError(f"the partner's token endpoint answered {response.status_code}")
        try:
            token = signing.parse_json(response.content)["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SyncError("the partner's token endpoint gave no access_token") from exc
        self._token = str(token)
        return self._token

    def _authorised(self, url: str) -> requests.Response:
        for renewed in (False, True):
            token = self._token if self._token and not renewed else self.token()
            response = self._send("GET", url, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401:
                return response
        return response

    def page(self, url: str) -> tuple[list[Any], str | None]:
        """One page of ListFootprints and the link to the next, if any."""
        response = self._authorised(url)
        if response.status_code != 200:
            raise SyncError(f"{url} answered {response.status_code}")
        try:
            data = signing.parse_json(response.content)["data"]
        except signing.JSONRefused as exc:
            raise SyncError(f"{url}: {exc.message}") from exc
        except (KeyError, TypeError) as exc:
            raise SyncError(f"{url} gave no PACT data list") from exc
        if not isinstance(data, list):
            raise SyncError(f"{url} gave no PACT data list")
        link = response.links.get("next", {}).get("url")
        return data, str(link) if link else None

    def first_page_url(self, filters: Mapping[str, list[str]]) -> str:
        query = [("limit", str(PAGE_SIZE))]
        query += [(name, value) for name, values in sorted(filters.items()) for value in values]
        return f"{self.base_url}/3/footprints?{urlencode(query)}"

    def _public_json(self, path: str) -> Any:
        response = self._send("GET", f"{self.base_url}{path}")
        if response.status_code != 200:
            raise SyncError(f"{path} answered {response.status_code}")
        try:
            return signing.parse_json(response.content)
        except signing.JSONRefused as exc:
            raise SyncError(f"{path}: {exc.message}") from exc

    def checkpoint(self) -> str:
        response = self._send("GET", f"{self.base_url}/api/v1/log/checkpoint")
        if response.status_code != 200:
            raise SyncError(f"the partner's checkpoint answered {response.status_code}")
        return response.text

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        found = self._public_json(f"/api/v1/log/proof/consistency?first={first}&second={second}")
        if not isinstance(found, dict):
            raise SyncError("the consistency proof is not a JSON object")
        return found

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        found = self._public_json(f"/api/v1/log/proof/inclusion?index={index}&size={size}")
        if not isinstance(found, dict):
            raise SyncError("the inclusion proof is not a JSON object")
        return found

    def entry_times(self, start: int, end: int) -> dict[int, dt.datetime]:
        """When the partner's log received each entry in ``[start, end)`` (its own word:
        the time is not under the checkpoint's signature, but it is the partner's claim)."""
        found = self._public_json(f"/api/v1/log/entries?start={start}&end={end}")
        entries = found.get("entries") if isinstance(found, dict) else None
        times: dict[int, dt.datetime] = {}
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("index"), int):
                continue
            try:
                moment = dt.datetime.fromisoformat(str(entry.get("createdAt")))
            except ValueError:
                continue
            if moment.tzinfo is not None:
                times[entry["index"]] = moment.astimezone(dt.UTC)
        return times

    def record_meta(self, record_id: str) -> dict[str, Any] | None:
        """What the partner says of one of its records (``receivedAt``,
        ``keyStatusAtReceipt``), when it runs this software and shows it to us."""
        response = self._authorised(f"{self.base_url}/api/v1/footprints/{record_id}")
        if response.status_code != 200:
            return None
        try:
            found = response.json()
        except ValueError:
            return None
        meta = found.get("exchange") if isinstance(found, dict) else None
        return meta if isinstance(meta, dict) else None

    def organisation_jwks(self, organisation_id: str) -> dict[str, Any]:
        found = self._public_json(f"/api/v1/organisations/{organisation_id}/jwks.json")
        return found if isinstance(found, dict) else {}

    def trust_list(self) -> dict[str, Any] | None:
        response = self._send("GET", f"{self.base_url}/.well-known/trust-list.json")
        if response.status_code == 404:
            return None
        try:
            found = signing.parse_json(response.content)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None


ClientFactory = Callable[[PartnerProgramme, ExchangeKey], PartnerClient]


def default_client(
    partner: PartnerProgramme, key: ExchangeKey, *, allow_private: bool = False
) -> PartnerClient:
    """The HTTP client of a partner's host, refused before any request when it cannot work."""
    if partner.client_id is None or partner.sealed_secret is None:
        raise SyncError("no client credentials for the partner's host are registered")
    try:
        secret = open_secret(key, partner.sealed_secret)
    except SealedSecretError as exc:
        raise SyncError(str(exc)) from exc
    try:
        # Checked at each sync: a name may resolve elsewhere than when it was registered.
        _check_public_host(
            urlsplit(partner.pact_base_url).hostname or "",
            allow_private=allow_private,
            resolve=True,
        )
    except ValidationFailed as exc:
        raise SyncError(f"{partner.pact_base_url}: {exc.message}") from exc
    return PartnerClient(partner.pact_base_url, partner.client_id, secret)


# --- served footprints back to envelopes -----------------------------------------------------


def envelope_of_served(served: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The envelope its owner signed, and our signature extension's data, from a PACT
    footprint as this software serves it (see :func:`exchange.pact.services.pact_footprint`)."""
    footprint = dict(served)
    extensions = footprint.get("extensions")
    if not isinstance(extensions, list):
        raise ValueError("the footprint carries no signature extension")
    ours = [
        item
        for item in extensions
        if isinstance(item, dict)
        and str(item.get("dataSchema", "")).endswith(SIGNATURE_EXTENSION_PATH)
    ]
    if len(ours) != 1 or not isinstance(ours[0].get("data"), dict):
        raise ValueError("the footprint carries no (or several) signature extensions")
    data = ours[0]["data"]
    if not data.get("signed") or not isinstance(data.get("kid"), str):
        raise ValueError("the footprint is not signed by its owner")
    rest = [item for item in extensions if item is not ours[0]]
    if rest or data.get("extensionsMember"):
        footprint["extensions"] = rest
    else:
        footprint.pop("extensions")
    footprint["status"] = data.get("signedStatus")
    envelope = {
        "footprint": footprint,
        "signature": {"alg": signing.ALGORITHM, "kid": data["kid"], "value": data.get("value")},
    }
    return envelope, data


# --- the partner's log --------------------------------------------------------------------------


def _hashes(values: object) -> list[bytes]:
    if not isinstance(values, list):
        raise signing.SigningError("a proof is a list of base64 hashes")
    hashes = []
    for value in values:
        try:
            hashes.append(base64.b64decode(str(value), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise signing.SigningError("a proof hash is not base64") from exc
    return hashes


def verify_partner_checkpoint(
    text: str, *, origin: str, anchors: Mapping[str, bytes]
) -> note.Checkpoint:
    """The checkpoint in ``text`` if one of the partner's anchors signed it."""
    for public_key in anchors.values():
        try:
            return note.verify_checkpoint(text, origin=origin, public_key=public_key)
        except signing.SigningError:
            continue
    raise signing.SigningError("the checkpoint is not signed by a trust anchor of the partner")


@dataclasses.dataclass(slots=True)
class _LogState:
    """The partner's log as last verified: its checkpoint, and whether to keep a new one."""

    checkpoint: note.Checkpoint
    note: str
    new: bool = True


def _kept_checkpoint(session: Session, partner_id: str, origin: str) -> _LogState | None:
    kept = session.scalars(
        sa.select(PartnerCheckpoint)
        .where(PartnerCheckpoint.partner_id == partner_id)
        .order_by(PartnerCheckpoint.tree_size.desc())
        .limit(1)
    ).first()
    if kept is None:
        return None
    checkpoint = note.Checkpoint(origin, kept.tree_size, kept.root_hash)
    return _LogState(checkpoint, kept.note, new=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Fork:
    earlier: str
    later: str
    proof: dict[str, Any] | None
    problem: str


def fetch_checkpoint(
    client: PartnerClient, *, origin: str, anchors: Mapping[str, bytes], kept: _LogState | None
) -> _LogState | Fork:
    """The partner's current checkpoint, signed by an anchor and consistent with ``kept``.

    Network and pure checks only: nothing here holds a database transaction open.
    """
    text = client.checkpoint()
    try:
        current = verify_partner_checkpoint(text, origin=origin, anchors=anchors)
    except signing.SigningError as exc:
        raise SyncError(f"the partner's checkpoint does not verify: {exc}") from exc
    if kept is None:
        return _LogState(current, text)
    before = kept.checkpoint
    if before.size == current.size:
        if before.root_hash != current.root_hash:
            return Fork(kept.note, text, None, "two checkpoints of one size with two roots")
        return _LogState(current, text, new=False)
    if before.size < current.size:
        small, large, earlier, later = before, current, kept.note, text
    else:
        small, large, earlier, later = current, before, text, kept.note
    if small.size > 0:  # the empty tree is a prefix of every tree
        proof = client.consistency(small.size, large.size)
        try:
            merkle.verify_consistency(
                small.size,
                large.size,
                small.root_hash,
                large.root_hash,
                _hashes(proof.get("proof")),
            )
        except signing.SigningError as exc:
            return Fork(earlier, later, proof, f"the consistency proof fails: {exc}")
    # A smaller (older) checkpoint that the kept one extends is no news: keep the larger.
    return _LogState(current, text) if current.size > before.size else kept


def _keep(session: Session, partner_id: str, state: _LogState | None) -> None:
    if state is None or not state.new:
        return
    exists = session.scalar(
        sa.select(PartnerCheckpoint.id).where(
            PartnerCheckpoint.partner_id == partner_id,
            PartnerCheckpoint.tree_size == state.checkpoint.size,
        )
    )
    if exists is None:
        session.add(
            PartnerCheckpoint(
                partner_id=partner_id,
                tree_size=state.checkpoint.size,
                root_hash=state.checkpoint.root_hash,
                note=state.note,
                seen_at=utcnow(),
            )
        )
        session.flush()
    state.new = False


def record_fork(session: Session, partner: PartnerProgramme, fork: Fork) -> PartnerFork:
    """Keep the evidence and suspend the partner: its log was rewritten."""
    evidence = PartnerFork(
        partner_id=partner.id,
        earlier_note=fork.earlier,
        later_note=fork.later,
        proof=fork.proof,
        problem=fork.problem,
        detected_at=utcnow(),
    )
    session.add(evidence)
    session.flush()
    if partner.status == PartnerStatus.ACTIVE:
        change_partner_status(
            session,
            partner,
            PartnerStatus.SUSPENDED,
            f"its transparency log forked ({fork.problem}); evidence {evidence.id} kept",
            decided_by=None,
        )
    return evidence


# --- the sync -------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Walk:
    """What a sync needs between its short transactions: the partner as it was read."""

    client: PartnerClient
    origin: str | None
    anchors: dict[str, bytes]
    stop_id: str | None
    log: _LogState | None = None
    jwks: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # When the partner's log received its entries, fetched a window at a time.
    times: dict[int, dt.datetime] = dataclasses.field(default_factory=dict)
    times_asked: set[int] = dataclasses.field(default_factory=set)

    def received_at(self, index: int) -> dt.datetime | None:
        """When the partner's log received entry ``index``, if the partner says."""
        if index not in self.times and index not in self.times_asked:
            start = max(0, index - PAGE_SIZE + 1)  # newest first: the page's others lie below
            self.times_asked.update(range(start, index + 1))
            try:
                self.times.update(self.client.entry_times(start, index + 1))
            except HostUnavailable:
                raise  # an outage is no answer: the page is left for the next sync
            except SyncError as exc:
                logger.info("the partner's log entries %s..%s: %s", start, index, exc)
        return self.times.get(index)

    def jwks_of(self, owner: str) -> dict[str, Any] | None:
        """The JWKS the partner publishes for ``owner``; None when it gave a definite no."""
        keys = self.jwks.get(owner)
        if keys is None:
            try:
                keys = self.jwks[owner] = self.client.organisation_jwks(owner)
            except HostUnavailable:
                raise  # an outage is no answer
            except SyncError:
                self.jwks[owner] = {}
                return None
        return keys


def _gather(walk: _Walk, served: Any) -> Inbound | Fork | None:
    """A served footprint with its evidence from the partner's host (network only); None
    for one that is not a signed record of this software's kind."""
    if not isinstance(served, dict):
        return None
    try:
        envelope, data = envelope_of_served(served)
    except ValueError as exc:
        logger.info("a partner's footprint %s left: %s", served.get("id"), exc)
        return None
    problems: list[Reason] = []
    kid = str(data["kid"])
    signer_jwk = None
    owner = data.get("owner")
    if kid not in walk.anchors and isinstance(owner, str):
        keys = walk.jwks_of(owner)
        if keys is None:
            keys = {}
            problems.append(Reason("partner-keys-unavailable", f"no JWKS of {owner}"))
        signer_jwk = next(
            (j for j in keys.get("keys", []) if isinstance(j, dict) and j.get("kid") == kid),
            None,
        )
    evidence = None
    index = data.get("logIndex")
    # When the partner received it, and what the partner itself says of the key then.
    received_at = None
    if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
        received_at = walk.received_at(index)
    partner_key_status = None
    try:
        meta = walk.client.record_meta(str(served.get("id", "")).lower()[:36])
    except HostUnavailable:
        raise  # an outage is no answer: the page is left for the next sync
    except SyncError:
        meta = None
    if meta is not None:
        if isinstance(meta.get("keyStatusAtReceipt"), str):
            partner_key_status = meta["keyStatusAtReceipt"]
        if received_at is None:
            try:
                stated = dt.datetime.fromisoformat(str(meta.get("receivedAt")))
            except ValueError:
                stated = None
            if stated is not None and stated.tzinfo is not None:
                received_at = stated.astimezone(dt.UTC)
    if walk.origin is not None and walk.log is not None and isinstance(index, int) and index >= 0:
        if index >= walk.log.checkpoint.size:  # logged after the checkpoint we hold
            refreshed = fetch_checkpoint(
                walk.client, origin=walk.origin, anchors=walk.anchors, kept=walk.log
            )
            if isinstance(refreshed, Fork):
                return refreshed
            walk.log = refreshed
        size = walk.log.checkpoint.size
        if index < size:
            try:
                proof = walk.client.inclusion(index, size)
                evidence = LogEvidence(
                    walk.log.checkpoint, walk.log.note, index, _hashes(proof.get("proof"))
                )
            except HostUnavailable:
                raise  # an outage is no answer: the page is left for the next sync
            except (SyncError, signing.SigningError) as exc:
                problems.append(Reason("partner-log-unavailable", f"no inclusion proof: {exc}"))
    return Inbound(
        envelope=envelope,
        signer_jwk=signer_jwk,
        log=evidence,
        problems=tuple(problems),
        received_at=received_at,
        partner_key_status=partner_key_status,
        owner=owner if isinstance(owner, str) else None,
    )


def _agreements(session: Session, partner_id: str) -> list[Agreement]:
    return list(
        session.scalars(
            sa.select(Agreement).where(Agreement.partner_id == partner_id).order_by(Agreement.id)
        )
    )


def sync_partner(
    sessions: sessionmaker[Session],
    partner_id: str,
    *,
    key: ExchangeKey,
    origin: str,
    client_factory: ClientFactory | None = None,
    allow_private: bool = False,
    max_pages: int | None = None,
    on_accepted: RecordsAccepted | None = None,
) -> SyncReport:
    """Pull, verify and decide the partner's new records; resumable, one page at a time.

    Requests to the partner run outside any transaction (on SQLite every transaction
    holds the write lock); each page is then decided in one short transaction.
    """
    report = SyncReport(partner_id=partner_id)
    try:
        with transaction(sessions) as session:
            partner = session.get(PartnerProgramme, partner_id)
            if partner is None:
                report.error = f"no partner programme {partner_id}"
                return report
            if partner.status != PartnerStatus.ACTIVE:
                report.error = f"the partner is {partner.status.value}: nothing is pulled"
                return report
            factory = client_factory or functools.partial(
                default_client, allow_private=allow_private
            )
            walk = _Walk(
                client=factory(partner, key),
                origin=partner.log_origin,
                anchors=valid_anchors(session, partner.id),
                stop_id=partner.sync_stop_id,
            )
            kept = _kept_checkpoint(session, partner.id, partner.log_origin or "")
            partner_url_resumed = partner.sync_next_url is not None
            url = partner.sync_next_url or walk.client.first_page_url(partner.sync_filters)
        try:
            document = walk.client.trust_list()
        except SyncError as exc:
            document = None
            logger.info("partner %s: no trust list: %s", partner_id, exc)
        if document is not None:
            with transaction(sessions) as session:
                partner = session.get(PartnerProgramme, partner_id)
                assert partner is not None
                try:
                    report.anchors_added = accept_trust_list(session, partner, document)
                except signing.SigningError as exc:
                    logger.info("partner %s: trust list not taken: %s", partner_id, exc)
                walk.anchors = valid_anchors(session, partner_id)
        if walk.origin is not None:
            checked = fetch_checkpoint(
                walk.client, origin=walk.origin, anchors=walk.anchors, kept=kept
            )
            with transaction(sessions) as session:
                partner = session.get(PartnerProgramme, partner_id)
                assert partner is not None
                if isinstance(checked, Fork):
                    record_fork(session, partner, checked)
                    report.fork = checked.problem
                    return report
                _keep(session, partner_id, checked)
            walk.log = checked
        _recheck_keys(sessions, walk, partner_id, report)
        # A page reached by a ``next`` link (or a resumed cursor) is in the middle of a walk.
        followed = partner_url_resumed
        while max_pages is None or report.pages < max_pages:
            data, next_url = walk.client.page(url)
            report.pages += 1
            if followed and not data:
                raise SyncError(
                    f"{url} answered an empty page in the middle of the walk: the sync "
                    "stops there and resumes from it"
                )
            met_stop = walk.stop_id is not None and any(
                isinstance(item, dict) and str(item.get("id", "")).lower() == walk.stop_id
                for item in data
            )
            if next_url is None and walk.stop_id is not None and not met_stop:
                raise SyncError(
                    f"the partner's list ended at {url} before the record the last complete "
                    f"sync began at ({walk.stop_id}): records may be missing; the sync "
                    "resumes from this page"
                )
            followed = True
            finished = False
            for position, served in enumerate(data):
                if (
                    isinstance(served, dict)
                    and walk.stop_id is not None
                    and (str(served.get("id", "")).lower() == walk.stop_id)
                ):
                    data, finished = data[:position], True
                    break
            with transaction(sessions) as session:
                partner = session.get(PartnerProgramme, partner_id)
                assert partner is not None
                ours = _our_records(session, partner, data)
            report.own += sum(1 for served in data if _served_id(served) in ours)
            gathered: list[Inbound | None] = []
            fork: Fork | None = None
            for served in data:
                if _served_id(served) in ours:
                    continue
                item = _gather(walk, served)
                if isinstance(item, Fork):
                    fork = item
                    break
                gathered.append(item)
            with transaction(sessions) as session:
                partner = session.get(PartnerProgramme, partner_id, with_for_update=True)
                assert partner is not None
                if fork is not None:
                    record_fork(session, partner, fork)
                    report.fork = fork.problem
                    return report
                _keep(session, partner_id, walk.log)
                _decide_page(session, partner, gathered, report, key, origin, on_accepted)
                if partner.sync_walk_head is None and data and isinstance(data[0], dict):
                    partner.sync_walk_head = str(data[0].get("id", ""))[:36].lower() or None
                if finished or next_url is None:
                    partner.sync_stop_id = partner.sync_walk_head or partner.sync_stop_id
                    partner.sync_walk_head = None
                    partner.sync_next_url = None
                    partner.last_synced_at = utcnow()
                    partner.last_sync_error = None
                    report.complete = True
                    return report
                partner.sync_next_url = next_url
            url = next_url
        return report
    except SyncError as exc:
        report.error = str(exc)
        with transaction(sessions) as session:
            partner = session.get(PartnerProgramme, partner_id)
            if partner is not None:
                partner.last_sync_error = str(exc)[:2000]
        return report


def _served_id(served: Any) -> str:
    return str(served.get("id", "")).lower()[:36] if isinstance(served, dict) else ""


def _our_records(session: Session, partner: PartnerProgramme, data: Sequence[Any]) -> set[str]:
    """The ids on a page of records held here and not the partner's: our own records (or
    another partner's) that it recognised and serves back. They are not its to vouch for."""
    ids = {_served_id(served) for served in data} - {""}
    if not ids:
        return set()
    return set(
        session.scalars(
            sa.select(FootprintRecord.id).where(
                FootprintRecord.id.in_(ids),
                FootprintRecord.owner_id != partner.organisation_id,
            )
        )
    )


def _recheck_keys(
    sessions: sessionmaker[Session], walk: _Walk, partner_id: str, report: SyncReport
) -> None:
    """Ask the partner again for the keys of every standing recognition: a key it has
    revoked since flags every recognition under it."""
    with transaction(sessions) as session:
        signers = session.execute(
            sa.select(Recognition.signer_owner, FootprintRecord.signature_kid)
            .join(FootprintRecord, FootprintRecord.id == Recognition.record_id)
            .where(
                Recognition.partner_id == partner_id,
                Recognition.decision == Decision.RECOGNISED,
                Recognition.key_revoked_at.is_(None),
                Recognition.signer_owner.is_not(None),
            )
            .distinct()
        ).all()
    revoked: list[tuple[str, dt.datetime]] = []
    for owner, kid in signers:
        if owner is None or kid is None or kid in walk.anchors:
            continue
        keys = walk.jwks_of(owner) or {}
        jwk = next(
            (j for j in keys.get("keys", []) if isinstance(j, dict) and j.get("kid") == kid),
            None,
        )
        state = jwk.get("revoked") if jwk is not None else None
        moment = _epoch(state.get("revoked_at")) if isinstance(state, dict) else None
        if moment is not None:
            revoked.append((kid, moment))
    if not revoked:
        return
    with transaction(sessions) as session:
        for kid, moment in revoked:
            report.flagged += flag_key_revoked(
                session,
                partner_id,
                kid,
                moment,
                f"the partner revoked key {kid} from {moment.isoformat()}",
            )


def _epoch(value: object) -> dt.datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return None


def _decide_page(
    session: Session,
    partner: PartnerProgramme,
    gathered: list[Inbound | None],
    report: SyncReport,
    key: ExchangeKey,
    origin: str,
    on_accepted: RecordsAccepted | None,
) -> None:
    """Decide a page's records, each once: a record decided before is left alone."""
    agreements = _agreements(session, partner.id)
    anchors = valid_anchors(session, partner.id)
    for inbound in gathered:
        if inbound is None:
            report.skipped += 1
            continue
        footprint = inbound.envelope["footprint"]
        record_id = str(footprint.get("id", "")).lower()
        if previous_decision(session, partner.id, record_id, footprint_digest(footprint)):
            report.skipped += 1
            continue
        try:
            recognition = decide(
                session,
                partner,
                inbound,
                key=key,
                origin=origin,
                anchors=anchors,
                agreements=agreements,
                source="sync",
                on_accepted=on_accepted,
            )
        except ExchangeError as exc:  # one malformed record must not stop the walk
            logger.info("partner %s: footprint %s left: %s", partner.id, record_id, exc)
            report.skipped += 1
            continue
        if recognition.decision == Decision.RECOGNISED:
            report.recognised += 1
        else:
            report.refused += 1


def inbound_of_upload(
    session: Session, partner: PartnerProgramme, item: object, index: int
) -> Inbound:
    """A record handed over directly: ``{"envelope", "signerJwk"?, "logProof"?}``, or a PACT
    footprint as the partner's host serves it (with the signature extension)."""
    field = f"items.{index}"
    if not isinstance(item, dict):
        raise ValidationFailed(f"{field} is not a JSON object", details=[{"field": field}])
    if "envelope" in item:
        envelope = item["envelope"]
        proof_part = item.get("logProof")
        inclusion_part = proof_part.get("inclusionProof") if isinstance(proof_part, dict) else None
        log_index = inclusion_part.get("index") if isinstance(inclusion_part, dict) else None
    else:
        try:
            envelope, data = envelope_of_served(item)
        except ValueError as exc:
            raise ValidationFailed(
                str(exc), details=[{"field": field, "message": "no signature extension"}]
            ) from exc
        log_index = data.get("logIndex")
    if not isinstance(envelope, dict):
        raise ValidationFailed(f"{field}.envelope is not an envelope", details=[{"field": field}])
    signer_jwk = item.get("signerJwk")
    if signer_jwk is not None and not isinstance(signer_jwk, dict):
        raise ValidationFailed(f"{field}.signerJwk is not a JWK", details=[{"field": field}])
    problems: list[Reason] = []
    evidence = None
    proof = item.get("logProof")
    if partner.log_origin is not None and isinstance(proof, dict):
        try:
            text = str(proof.get("checkpoint", ""))
            checkpoint = verify_partner_checkpoint(
                text, origin=partner.log_origin, anchors=valid_anchors(session, partner.id)
            )
            inclusion = proof.get("inclusionProof")
            if not isinstance(inclusion, dict) or not isinstance(log_index, int):
                raise signing.SigningError("no inclusion proof with an index")
            evidence = LogEvidence(checkpoint, text, log_index, _hashes(inclusion.get("proof")))
        except signing.SigningError as exc:
            problems.append(Reason("partner-log-unavailable", f"the log proof is not valid: {exc}"))
    return Inbound(envelope=envelope, signer_jwk=signer_jwk, log=evidence, problems=tuple(problems))


# --- the worker ---------------------------------------------------------------------------


def records_accepted_hook(public_url: str) -> RecordsAccepted:
    """What recognised records set off, as for any new record: PACT requests and
    notifications, and aggregation staleness."""
    host = Host(base_url=public_url.rstrip("/"))

    def told(session: Session, created: Sequence[NewRecord]) -> None:
        pact_records_accepted(session, created, host=host)
        aggregation_records_accepted(session, created)

    return told


def _public_url(config: Mapping[str, Any]) -> str:
    return str(config.get("PUBLIC_URL") or f"https://{config['EXCHANGE_ORIGIN']}")


def sync_all(context: JobContext, payload: dict[str, Any]) -> None:
    """Job handler: sync every active partner; each one's error is kept on its row."""
    with context.sessions() as session:
        partner_ids = list(
            session.scalars(
                sa.select(PartnerProgramme.id)
                .where(PartnerProgramme.status == PartnerStatus.ACTIVE)
                .order_by(PartnerProgramme.id)
            )
        )
    for partner_id in partner_ids:
        report = sync_partner(
            context.sessions,
            partner_id,
            key=context.exchange_key,
            origin=str(context.config["EXCHANGE_ORIGIN"]),
            on_accepted=records_accepted_hook(_public_url(context.config)),
            allow_private=bool(context.config["EVENTS_ALLOW_PRIVATE_HOSTS"]),
        )
        if report.error is not None:
            logger.warning("partner %s: sync failed: %s", partner_id, report.error)


def schedule_sync(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> None:
    """Queue the next sync of all partners, one interval after the last, if none is queued."""
    if not session.scalar(
        sa.select(PartnerProgramme.id).where(PartnerProgramme.status == PartnerStatus.ACTIVE)
    ):
        return
    pending = session.scalar(
        sa.select(Job.id).where(Job.kind == SYNC_JOB, Job.status == JobStatus.PENDING).limit(1)
    )
    if pending is not None:
        return
    last = session.scalar(sa.select(sa.func.max(Job.finished_at)).where(Job.kind == SYNC_JOB))
    interval = dt.timedelta(seconds=float(config.get("PARTNER_SYNC_SECONDS", 3600)))
    enqueue(session, kind=SYNC_JOB, payload={}, now=max(now, last + interval) if last else now)

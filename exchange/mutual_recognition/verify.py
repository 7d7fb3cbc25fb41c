"""Offline verification of a verification bundle: pure Python, no database, no network.

A partner pins this exchange's public key (from ``/.well-known/jwks.json`` at onboarding,
or its signed trust list) and checks a bundle from ``GET /api/v1/footprints/<id>/verification``
with :func:`verify_bundle`: the exchange's signature over the bundle, the owner's signature
over the footprint under the key the bundle names (whose registration must be in the log),
the record's inclusion in the log under a checkpoint the pinned key signed, each
certificate under its body's key from the signed trust list, and each recognition under the
pinned key; for a derived footprint, the exchange's attestation of its inputs (under the
exchange keys of the signed trust list, and in the log) and every opening of its lines the
bundle carries, against the commitments the owner signed. A record served *withheld* (a
derived footprint signed with its inputs in clear, before confidential provenance) has its
owner's signature vouched for by that attestation instead of checked here. Every problem
found is reported; an empty list means the bundle holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from exchange import signing
from exchange.aggregation import commitments
from exchange.labels.verify import TrustListStale, check_current
from exchange.log import cosignature, note
from exchange.log.verify import verify_inclusion_proof


@dataclasses.dataclass(frozen=True, slots=True)
class WitnessCheck:
    """Who cosigned the bundle's checkpoint, of the witnesses the policy knows."""

    by: tuple[str, ...]
    operators: tuple[str, ...]
    required: int
    known: int
    met: bool
    partners_only: bool = False

    @property
    def summary(self) -> str:
        """ "witnessed by 2 of 3 partner programmes"."""
        noun = "partner programmes" if self.partners_only else "witnesses"
        text = f"witnessed by {len(self.by)} of {self.known} {noun}"
        if self.required:
            text += f" ({self.required} required)"
        return text


@dataclasses.dataclass(frozen=True, slots=True)
class BundleVerdict:
    """What a bundle proves, and every problem that stops it from proving it.

    ``unconfirmed``: the problems among ``problems`` that only leave the bundle unconfirmed
    (a trust list past its nextUpdate, a checkpoint short of the witness quorum)."""

    problems: tuple[str, ...]
    record_id: str | None = None
    signer_kid: str | None = None
    key_status: str | None = None
    log_index: int | None = None
    tree_size: int | None = None
    certificates: tuple[tuple[Any, str], ...] = ()
    recognitions: tuple[str, ...] = ()
    witnesses: WitnessCheck | None = None
    unconfirmed: tuple[str, ...] = ()
    # A derived footprint: its attestation's kind ("committed", "migrated") once it holds,
    # and the indexes of the lines the bundle opened, each checked against its commitment.
    attestation: str | None = None
    openings: tuple[int, ...] = ()
    withheld: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def state(self) -> str:
        """``valid``; ``cannot-confirm`` (genuine as far as checked, but not confirmed: see
        ``unconfirmed``); or ``invalid``."""
        if not self.problems:
            return "valid"
        if set(self.problems) <= set(self.unconfirmed):
            return "cannot-confirm"
        return "invalid"


def _keys(pinned: Sequence[bytes] | Mapping[str, Any]) -> dict[str, bytes]:
    """Pinned keys by kid: raw Ed25519 public keys, or a JWK Set."""
    if isinstance(pinned, Mapping):
        found = {}
        for jwk in pinned.get("keys", []):
            public_key = signing.public_key_from_jwk(
                {name: jwk[name] for name in ("kty", "crv", "x") if name in jwk}
            )
            found[signing.key_id(public_key)] = public_key
        return found
    return {signing.key_id(public_key): public_key for public_key in pinned}


def _signed_by(
    document: Any, context: str, keys: Mapping[str, bytes], member: str
) -> dict[str, Any]:
    """The signed payload ``document[member]`` if ``document["signature"]`` is a pinned key's."""
    if not isinstance(document, Mapping):
        raise signing.SigningError("not a signed JSON object")
    payload, signature = document.get(member), document.get("signature")
    if not isinstance(payload, dict) or not isinstance(signature, Mapping):
        raise signing.SigningError(f'no "{member}" with a "signature"')
    public_key = keys.get(str(signature.get("kid")))
    if public_key is None:
        raise signing.SigningError("signed by a key that is not pinned")
    signing.verify(
        context=context,
        payload=payload,
        signature=str(signature.get("value")),
        public_key=public_key,
    )
    return payload


def _moment(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _leaf_check(
    entry: bytes,
    proof: Any,
    checkpoint: str,
    key: signing.PublicKeys,
    origin: str,
    *,
    withheld: bool = False,
) -> int:
    """The log index ``proof`` proves ``entry`` at, under the checkpoint; with ``withheld``
    the proof's own leaf (the caller holds it against what vouches for it)."""
    return verify_inclusion_proof(
        proof, checkpoint, public_key=key, origin=origin, entry=None if withheld else entry
    )


def _attestation(
    derived: Mapping[str, Any],
    footprint: Mapping[str, Any],
    pinned: Mapping[str, bytes],
    trust_list: Any,
    problems: list[str],
) -> dict[str, Any] | None:
    """A derived footprint's attestation, if it holds (problems noted otherwise), and every
    opening the bundle carries checked against the commitments the footprint holds."""
    if not derived:
        return None
    keys = {kid: commitments.ExchangeKey(kid, key) for kid, key in pinned.items()}
    listed = trust_list.get("trustList") if isinstance(trust_list, Mapping) else None
    if isinstance(listed, Mapping):
        # The trust list (its own signature is checked with the certificates) says when each
        # exchange key signed: an attestation issued outside that window is refused.
        try:
            published = commitments.exchange_keys(listed["exchange"]["keys"])
            keys = {kid: published.get(kid, key) for kid, key in keys.items()}
        except (KeyError, TypeError, signing.SigningError):
            pass
    signed = derived.get("attestation")
    verdict = commitments.verify_attestation(signed, keys=keys, footprint=footprint)
    if not verdict.ok:
        problems.extend(f"the attestation: {problem}" for problem in verdict.problems)
        return None
    # The commitments the openings open: those the footprint holds, or for a migrated
    # record served as its owner signed it, the exchange's, bound by the attested root.
    data = commitments.provenance_of(footprint) or derived.get("commitments") or {}
    assert isinstance(signed, Mapping)
    if data.get("commitmentRoot") != signed["attestation"].get("commitmentRoot"):
        problems.append("the openings are not of the commitments the attestation names")
        return None
    for position, opening in enumerate(derived.get("openings") or ()):
        try:
            commitments.check_opening(data, opening)
        except commitments.OpeningRefused as exc:
            problems.append(f"opening {position}: {exc}")
    document: dict[str, Any] = signed["attestation"]
    return document


def verify_bundle(
    document: Any,
    *,
    pinned: Sequence[bytes] | Mapping[str, Any],
    origin: str | None = None,
    trust_list: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    witness_policy: cosignature.WitnessPolicy | None = None,
    require_witnesses: bool | None = None,
) -> BundleVerdict:
    """Check a verification bundle against the pinned exchange key(s); see the module doc.

    A document of the wrong shape is a problem like any other, never an exception.
    """
    try:
        return _verify_bundle(
            document,
            pinned=pinned,
            origin=origin,
            trust_list=trust_list,
            now=now,
            witness_policy=witness_policy,
            require_witnesses=require_witnesses,
        )
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        return BundleVerdict((f"the bundle is malformed: {type(exc).__name__}: {exc}",))


def _verify_bundle(
    document: Any,
    *,
    pinned: Sequence[bytes] | Mapping[str, Any],
    origin: str | None = None,
    trust_list: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    witness_policy: cosignature.WitnessPolicy | None = None,
    require_witnesses: bool | None = None,
) -> BundleVerdict:
    """Check a verification bundle against the pinned exchange key(s); see the module doc.

    ``witness_policy``: the witnesses and quorum the verifier pinned (else the trust list's).
    ``require_witnesses``: whether a checkpoint short of the quorum is a problem (default:
    whenever the policy asks for any cosignature).
    ``origin``: the exchange's log origin, when the verifier pinned it too (else the
    bundle's own, which the checkpoint signature still binds to the pinned key).
    ``trust_list``: a signed trust list the verifier holds, used instead of the bundle's.
    ``now``: the moment of the check (the clock's); a trust list past its ``nextUpdate`` then
    is refused, so certificates cannot be confirmed until a fresh list is passed.
    """
    problems: list[str] = []
    unconfirmed: list[str] = []
    try:
        keys = _keys(pinned)
    except signing.SigningError as exc:
        return BundleVerdict((f"the pinned keys are not valid: {exc}",))
    try:
        bundle = _signed_by(document, signing.VERIFICATION_CONTEXT, keys, "bundle")
    except signing.SigningError as exc:
        return BundleVerdict((f"the bundle is not signed by the pinned exchange key: {exc}",))
    origin = origin or str(bundle.get("origin", ""))
    # The checkpoint may be older than the bundle, signed by a key since retired.
    exchange_keys = list(keys.values())

    envelope = bundle.get("envelope")
    found_record = bundle.get("record")
    record: dict[str, Any] = found_record if isinstance(found_record, dict) else {}
    if not isinstance(envelope, dict) or not isinstance(envelope.get("footprint"), dict):
        return BundleVerdict(("the bundle holds no envelope",))
    footprint = envelope["footprint"]
    signature = envelope.get("signature")
    record_id = str(footprint.get("id", "")).lower()
    if str(record.get("id", "")).lower() != record_id:
        problems.append("the bundle's record is not the envelope's footprint")
    digest = hashlib.sha256(signing.canonical_json(footprint)).hexdigest()
    withheld = envelope.get("withheld") is True

    # A derived footprint's attestation, under the exchange keys: checked first, since for
    # a withheld record it vouches for what the owner signed.
    found_provenance = bundle.get("provenance")
    derived: dict[str, Any] = found_provenance if isinstance(found_provenance, dict) else {}
    attested = _attestation(
        derived,
        footprint,
        keys,
        trust_list if trust_list is not None else bundle.get("trustList"),
        problems,
    )
    if withheld:
        if attested is None or attested.get("provenance") != commitments.MIGRATED:
            problems.append(
                "the record is served withheld without an attestation of what was withheld"
            )
        else:
            # Certificates and recognitions name the bytes the owner signed.
            digest = str(attested.get("footprintDigest"))

    # The owner's signature, under the key the bundle names.
    signer = bundle.get("signer")
    kid = None
    key_status = None
    if not isinstance(signature, dict) or not isinstance(signer, dict):
        problems.append("the record is not signed by its owner")
    else:
        kid = str(signature.get("kid"))
        key_status = str(signer.get("status"))
        try:
            public_key = signing.public_key_from_jwk(
                {n: signer["jwk"][n] for n in ("kty", "crv", "x") if n in signer.get("jwk", {})}
            )
            if signing.key_id(public_key) != kid:
                problems.append("the signer key in the bundle is not the key that signed")
            if withheld:
                owner = (attested or {}).get("ownerSignature") or {}
                if owner.get("kid") != kid:
                    problems.append("the attestation vouches for another key's signature")
            else:
                signing.verify(
                    context=signing.FOOTPRINT_CONTEXT,
                    payload=footprint,
                    signature=str(signature.get("value")),
                    public_key=public_key,
                )
        except (signing.SigningError, KeyError, TypeError) as exc:
            problems.append(f"the owner's signature does not verify: {exc}")
        # The exchange checked the key when it received the record: a revocation after
        # that leaves the signature good, one before (or a window missed) does not.
        received = _moment(record.get("receivedAt"))
        for bound, after in (("revokedAt", True), ("notAfter", True), ("notBefore", False)):
            moment = _moment(signer.get(bound))
            if moment is None or received is None:
                continue
            if (after and received >= moment) or (not after and received < moment):
                problems.append(
                    f"the record was received at {received.isoformat()}, outside the key's {bound}"
                )

    found_log = bundle.get("log")
    log_part: dict[str, Any] = found_log if isinstance(found_log, dict) else {}
    checkpoint_text = str(log_part.get("checkpoint", ""))
    tree_size = None
    log_index = None
    try:
        tree_size = note.verify_checkpoint(
            checkpoint_text, origin=origin, public_key=exchange_keys
        ).size
    except signing.SigningError as exc:
        problems.append(f"the checkpoint is not signed by the pinned exchange key: {exc}")
    if tree_size is not None:
        try:
            proof = log_part.get("inclusionProof")
            log_index = _leaf_check(
                # A withheld record's leaf is of the signed bytes: the attestation names it.
                b""
                if withheld
                else signing.canonical_json({"footprint": footprint, "signature": signature}),
                proof,
                checkpoint_text,
                exchange_keys,
                origin,
                withheld=withheld,
            )
            if log_index != record.get("logIndex"):
                problems.append("the inclusion proof is for another log index than the record's")
            if withheld and (attested or {}).get("logLeafHash") != (proof or {}).get("leafHash"):
                problems.append("the inclusion proof is not for the leaf the attestation names")
        except signing.SigningError as exc:
            problems.append(f"the record is not in the exchange's log as it stands: {exc}")
        if attested is not None:
            try:
                index = _leaf_check(
                    signing.canonical_json(
                        {"attestation": attested, "signature": derived["attestation"]["signature"]}
                    ),
                    derived.get("attestationProof"),
                    checkpoint_text,
                    exchange_keys,
                    origin,
                )
                if index != derived["attestation"].get("logIndex"):
                    problems.append("the attestation's proof is for another log index")
            except signing.SigningError as exc:
                problems.append(f"the attestation is not in the exchange's log: {exc}")
        if isinstance(signer, dict) and isinstance(signature, dict):
            registration = signer.get("registration")
            if not isinstance(registration, dict) or registration.get("kid") != kid:
                problems.append("the bundle does not show the signer key's registration")
            else:
                try:
                    _leaf_check(
                        signing.canonical_json(registration),
                        signer.get("registrationProof"),
                        checkpoint_text,
                        exchange_keys,
                        origin,
                    )
                except signing.SigningError as exc:
                    problems.append(f"the signer key's registration is not in the log: {exc}")

    # Certificates, under their bodies' keys from the signed trust list.
    try:
        listed = _signed_by(
            trust_list if trust_list is not None else bundle.get("trustList"),
            signing.TRUST_LIST_CONTEXT,
            keys,
            "trustList",
        )
    except signing.SigningError as exc:
        problems.append(f"the trust list is not signed by the pinned exchange key: {exc}")
        listed = {}
    if listed:
        try:
            check_current(listed, now or dt.datetime.now(dt.UTC))
        except TrustListStale as exc:
            problems.append(f"cannot confirm the certificates: {exc}")
            unconfirmed.append(problems[-1])
            listed = {}
    witnesses = None
    if tree_size is not None:
        witnesses = _check_witnesses(
            checkpoint_text,
            listed,
            witness_policy,
            require_witnesses,
            now,
            problems,
            unconfirmed,
        )
    body_keys: dict[str, dict[str, bytes]] = {}
    for body in listed.get("certificationBodies", []):
        if isinstance(body, dict):
            try:
                body_keys[str(body.get("id"))] = _keys({"keys": body.get("keys", [])})
            except signing.SigningError:
                continue
    certificates: list[tuple[Any, str]] = []
    for position, item in enumerate(bundle.get("certificates", [])):
        try:
            certificate = _signed_by(
                item,
                signing.CERTIFICATE_CONTEXT,
                body_keys.get(str(item.get("certificate", {}).get("body")), {}),
                "certificate",
            )
        except (signing.SigningError, AttributeError) as exc:
            problems.append(f"certificate {position} does not verify under its body's key: {exc}")
            continue
        if str(certificate.get("record", "")).lower() != record_id or (
            certificate.get("footprintDigest") != digest
        ):
            problems.append(f"certificate {position} is about another record")
            continue
        certificates.append((item.get("id"), str(item.get("status"))))

    recognitions: list[str] = []
    for position, item in enumerate(bundle.get("recognitions", [])):
        try:
            recognition = _signed_by(item, signing.RECOGNITION_CONTEXT, keys, "recognition")
        except signing.SigningError as exc:
            problems.append(f"recognition {position} is not signed by the exchange: {exc}")
            continue
        if recognition.get("record") != record_id or recognition.get("footprintDigest") != digest:
            problems.append(f"recognition {position} is about another record")
            continue
        proof = item.get("inclusionProof")
        if proof is not None and tree_size is not None:
            entry = signing.canonical_json(
                {"recognition": recognition, "signature": item["signature"]}
            )
            try:
                _leaf_check(entry, proof, checkpoint_text, exchange_keys, origin)
            except signing.SigningError as exc:
                problems.append(f"recognition {position} is not in the log: {exc}")
                continue
        recognitions.append(str(item.get("status")))

    return BundleVerdict(
        problems=tuple(problems),
        record_id=record_id,
        signer_kid=kid,
        key_status=key_status,
        log_index=log_index,
        tree_size=tree_size,
        certificates=tuple(certificates),
        recognitions=tuple(recognitions),
        witnesses=witnesses,
        unconfirmed=tuple(unconfirmed),
        attestation=None if attested is None else str(attested.get("provenance")),
        openings=tuple(
            item["index"]
            for item in derived.get("openings") or ()
            if isinstance(item, Mapping) and isinstance(item.get("index"), int)
        )
        if attested is not None
        else (),
        withheld=withheld,
    )


def _check_witnesses(
    checkpoint_text: str,
    listed: Mapping[str, Any],
    pinned_policy: cosignature.WitnessPolicy | None,
    require: bool | None,
    now: dt.datetime | None,
    problems: list[str],
    unconfirmed: list[str],
) -> WitnessCheck | None:
    """Check the checkpoint's cosignatures against the policy; add what fails to ``problems``."""
    section = listed.get("witnesses")
    described = section.get("witnesses", []) if isinstance(section, Mapping) else []
    operators = {
        str(item.get("name")): (str(item.get("operator") or item.get("name")), item.get("kind"))
        for item in described
        if isinstance(item, Mapping)
    }
    policy = pinned_policy
    if policy is None and isinstance(section, Mapping) and isinstance(section.get("policy"), str):
        try:
            policy = cosignature.parse_policy(section["policy"]).policy
        except cosignature.CosignatureError as exc:
            problems.append(f"the trust list's witness policy is not valid: {exc}")
            return None
    if policy is None:
        if require:
            problems.append("cannot confirm the log was witnessed: no witness policy is known")
            unconfirmed.append(problems[-1])
        return None
    try:
        _, found = cosignature.verify_cosignatures(checkpoint_text, policy.keys, now=now)
    except note.NoteError as exc:
        problems.append(f"the checkpoint carries a forged witness cosignature: {exc}")
        return None
    names = tuple(item.name for item in found)
    check = WitnessCheck(
        by=names,
        operators=tuple(operators.get(name, (name, None))[0] for name in names),
        required=policy.required(),
        known=len(policy.witnesses),
        met=policy.satisfied(names),
        partners_only=bool(policy.witnesses)
        and all(
            operators.get(key.name, ("", None))[1] == "partner-programme" for key in policy.keys
        ),
    )
    if (check.required > 0 if require is None else require) and not check.met:
        problems.append(
            f"cannot confirm the log was witnessed: the checkpoint is {check.summary}, short of "
            "the witness policy (the exchange may be showing this verifier a log the witnesses "
            "never saw)"
        )
        unconfirmed.append(problems[-1])
    return check


def verdict_json(verdict: BundleVerdict) -> dict[str, Any]:
    """The verdict as the verifiers print it."""
    witnesses = verdict.witnesses
    return {
        "ok": verdict.ok,
        "state": verdict.state,
        "witnesses": None
        if witnesses is None
        else {
            "summary": witnesses.summary,
            "by": list(witnesses.operators),
            "names": list(witnesses.by),
            "required": witnesses.required,
            "of": witnesses.known,
            "met": witnesses.met,
        },
        "record": verdict.record_id,
        "signer": verdict.signer_kid,
        "keyStatus": verdict.key_status,
        "logIndex": verdict.log_index,
        "treeSize": verdict.tree_size,
        "certificates": [list(item) for item in verdict.certificates],
        "recognitions": list(verdict.recognitions),
        "attestation": verdict.attestation,
        "openings": list(verdict.openings),
        "withheld": verdict.withheld,
        "problems": list(verdict.problems),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exchange.mutual_recognition.verify BUNDLE --jwks JWKS [--origin ORIGIN]
    [--policy TLOG_POLICY] [--require-witnesses]``: the verifier a third party runs with PyNaCl
    and rfc8785 alone (no server, no network). Prints the verdict as JSON (its ``state``:
    valid, cannot-confirm or invalid, and who witnessed the checkpoint); exit status 0 when
    the bundle holds, 1 when it does not or cannot be read (then with one line on stderr)."""
    import argparse
    import json
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(description="Check a verification bundle offline.")
    parser.add_argument("bundle", type=Path, help="the bundle (JSON file)")
    parser.add_argument("--jwks", type=Path, required=True, help="the exchange's pinned JWK Set")
    parser.add_argument("--origin", help="the exchange's log origin, if pinned")
    parser.add_argument(
        "--policy",
        type=Path,
        help="a C2SP tlog-policy file of the witnesses you trust (else the trust list's)",
    )
    parser.add_argument(
        "--require-witnesses",
        action="store_true",
        help="refuse a checkpoint short of the witness quorum even if the policy asks for none",
    )
    arguments = parser.parse_args(argv)
    try:
        # The I-JSON parser, as everywhere signed material is read: a bundle or JWK Set with a
        # member name twice would otherwise be read here as its last value and by another
        # verifier as its first.
        document = signing.parse_json(arguments.bundle.read_bytes())
        pinned = signing.parse_json(arguments.jwks.read_bytes())
        policy = (
            None
            if arguments.policy is None
            else cosignature.parse_policy(arguments.policy.read_text(encoding="utf-8")).policy
        )
    except (OSError, ValueError, signing.SigningError) as exc:
        print(f"error: cannot read the bundle, the JWK Set or the policy: {exc}", file=sys.stderr)
        return 1
    if not isinstance(document, dict) or not isinstance(document.get("bundle"), dict):
        print(f"error: {arguments.bundle} is not a verification bundle", file=sys.stderr)
        return 1
    verdict = verify_bundle(
        document,
        pinned=pinned,
        origin=arguments.origin,
        witness_policy=policy,
        require_witnesses=True if arguments.require_witnesses else None,
    )
    print(json.dumps(verdict_json(verdict), ensure_ascii=False, indent=2))
    return 0 if verdict.ok else 1


__all__ = ["BundleVerdict", "WitnessCheck", "main", "verdict_json", "verify_bundle"]

if __name__ == "__main__":
    raise SystemExit(main())

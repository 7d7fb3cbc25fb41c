"""Public HTTP API of the transparency log: checkpoint, proofs and entries (no login)."""

from __future__ import annotations

import re
from typing import Protocol

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.orm import Session

from exchange import signing, web
from exchange.errors import BadRequest, NotFound
from exchange.log import note, schemas, services
from exchange.log.models import LogCheckpoint

bp = Blueprint("log", __name__, url_prefix="/api/v1/log")

_DECIMAL = re.compile(r"[0-9]{1,18}")
# Proofs between fixed sizes never change; answers about "the current size" do.
_IMMUTABLE = "public, max-age=31536000, immutable"


class Cosignatures(Protocol):
    """What the witness area, above the log, adds to a served checkpoint: ``create_app``
    puts it in ``app.extensions["exchange.log.cosignatures"]``."""

    def newest_witnessed(
        self, session: Session, *, covering: int = 0
    ) -> LogCheckpoint | None: ...  # the newest checkpoint the policy's quorum cosigned

    def has_witnesses(self, session: Session) -> bool: ...

    def cosigned_note(self, session: Session, checkpoint: LogCheckpoint) -> str: ...


def _integer_arg(name: str) -> int | None:
    text = request.args.get(name)
    if text is None:
        return None
    if not _DECIMAL.fullmatch(text):
        raise BadRequest(f"{name} must be a non-negative integer", details=[{"field": name}])
    return int(text)


def _required_integer_arg(name: str) -> int:
    value = _integer_arg(name)
    if value is None:
        raise BadRequest(f"the query parameter {name} is required", details=[{"field": name}])
    return value


@bp.get("/checkpoint")
def checkpoint() -> Response:
    """The signed checkpoint at the current size (or the stored one at ``?size=``, or with
    ``?witnessed=true`` the newest that the witness policy's quorum cosigned), with every
    witness cosignature collected for it appended (C2SP tlog-cosignature)."""
    output = request.args.get("format", "text")
    if output not in ("text", "json"):
        raise BadRequest("format is text or json", details=[{"field": "format"}])
    witnessed = request.args.get("witnessed", "false")
    if witnessed not in ("true", "false"):
        raise BadRequest("witnessed is true or false", details=[{"field": "witnessed"}])
    session = web.session()
    witnessing: Cosignatures = current_app.extensions["exchange.log.cosignatures"]
    origin: str = current_app.config["EXCHANGE_ORIGIN"]
    key = web.exchange_key()
    size = _integer_arg("size")
    if witnessed == "true":
        newest = witnessing.newest_witnessed(session, covering=size or 0)
        if newest is None:
            raise NotFound("no checkpoint (of that size or more) is witnessed as the policy asks")
        found = newest
        cache = "no-cache"
    elif size is None:
        found = services.ensure_checkpoint(session, key, origin)
        session.commit()
        cache = "no-cache"
    else:
        found = services.checkpoint_at(session, size)
        # Witnesses may still cosign a stored checkpoint: then it is not final.
        cache = "no-cache" if witnessing.has_witnesses(session) else _IMMUTABLE
    text = witnessing.cosigned_note(session, found)
    if output == "json":
        # A checkpoint stored before a rotation is signed by a retired key: name that one.
        signer = next(
            (
                public_key
                for public_key in key.public_keys()
                if _signed_by(found.note, origin, public_key)
            ),
            key.public_key,
        )
        response = jsonify(
            {
                **schemas.checkpoint_json(
                    found, origin=origin, verifier_key=note.verifier_key(origin, signer)
                ),
                "note": text,
            }
        )
    else:
        response = Response(text, mimetype="text/plain")
    response.headers["Cache-Control"] = cache
    return response


def _signed_by(text: str, origin: str, public_key: bytes) -> bool:
    try:
        note.open_note(text, name=origin, public_key=public_key)
    except signing.SigningError:
        return False
    return True


@bp.get("/proof/inclusion")
def inclusion() -> Response:
    size = _integer_arg("size")
    proof = services.inclusion_proof(web.session(), _required_integer_arg("index"), size)
    response = jsonify(schemas.inclusion_json(proof))
    response.headers["Cache-Control"] = _IMMUTABLE if size is not None else "no-cache"
    return response


@bp.get("/proof/consistency")
def consistency() -> Response:
    second = _integer_arg("second")
    proof = services.consistency_proof(web.session(), _required_integer_arg("first"), second)
    response = jsonify(schemas.consistency_json(proof))
    response.headers["Cache-Control"] = _IMMUTABLE if second is not None else "no-cache"
    return response


@bp.get("/entries")
def entries() -> Response:
    """A page of at most 1000 entries: index, kind, leaf hash, time; never their content."""
    session = web.session()
    start = _integer_arg("start") or 0
    page = services.list_entries(session, start, _integer_arg("end"))
    return jsonify(
        {
            "start": start,
            "end": start + len(page),
            "treeSize": services.tree_size(session),
            "entries": [schemas.entry_json(entry) for entry in page],
        }
    )

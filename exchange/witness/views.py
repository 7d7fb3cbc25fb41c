"""HTTP of witnessing: the C2SP tlog-witness API of this exchange's witness (submission and
monitoring prefix ``/api/v1/witness``), what it witnesses, and who witnesses our log."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request

from exchange import web
from exchange.errors import UnsupportedMediaType
from exchange.witness import policy, services
from exchange.witness.keys import WitnessKey, load_witness_key

bp = Blueprint("witness", __name__)

PREFIX = "/api/v1/witness"
_KEY = "exchange.witness_key"
PARTNER_KEYS = "exchange.witness.partner_keys"
_FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def witness_key() -> WitnessKey:
    """This exchange's witness key (from the keys folder, KEYS_PATH; made at first use)."""
    found: WitnessKey | None = current_app.extensions.get(_KEY)
    if found is None:
        found = load_witness_key(Path(current_app.config["KEYS_PATH"]), current_app.config)
        current_app.extensions[_KEY] = found
    return found


@bp.post(f"{PREFIX}/add-checkpoint")
def add_checkpoint() -> Response:
    """C2SP tlog-witness add-checkpoint: ``old <size>``, consistency proof lines, a blank line
    and the signed checkpoint; answers this witness's cosignature line (text).

    404 for a log this exchange does not witness, 403 when no key of the log signed it (or
    a signature by one fails), 400 when malformed or the old size is above the checkpoint's,
    409 with the size it last cosigned (``text/x.tlog.size``) when the old size is another,
    422 when the checkpoint is not consistent with the one it last cosigned; 415 for a form
    body (send text)."""
    if request.mimetype in _FORMS:
        # A form body is parsed (and so consumed) before any view runs; the request is text.
        raise UnsupportedMediaType("send the add-checkpoint request as text/plain")
    session = web.session()
    try:
        outcome = services.add_checkpoint(
            session,
            request.get_data(cache=False),
            witness=witness_key(),
            partner_keys=current_app.extensions.get(PARTNER_KEYS),
        )
    except services.SizeConflict as conflict:
        session.rollback()
        response = Response(f"{conflict.size}\n", status=409, mimetype="text/x.tlog.size")
        response.headers["Cache-Control"] = "no-store"
        return response
    # The cosigned size is on disk (or the refusal kept as evidence) before the answer.
    session.commit()
    if outcome.refusal is not None:
        raise outcome.refusal
    response = Response(outcome.lines, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(f"{PREFIX}/<origin_hash>/checkpoint")
def latest_checkpoint(origin_hash: str) -> Response:
    """C2SP tlog-witness monitoring: the latest checkpoint this witness cosigned for the log
    whose origin's SHA-256 is ``origin_hash`` (hex), with the log's signatures and ours."""
    response = Response(services.latest_cosigned(web.session(), origin_hash), mimetype="text/plain")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get(PREFIX)
def witness() -> Response:
    """This exchange's witness: its name, verifier key (what a log pins) and the logs it
    witnesses, each with the size it last cosigned."""
    key = witness_key()
    base = current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")
    return jsonify(
        {
            "name": key.name,
            "verifierKey": key.verifier_key,
            "submissionPrefix": f"{str(base).rstrip('/')}{PREFIX}",
            "logs": [
                {
                    "origin": item.origin,
                    "originHash": services.origin_hash(item.origin),
                    "partnerId": item.partner_id,
                    "treeSize": item.tree_size,
                    "cosignedAt": None
                    if item.cosigned_at is None
                    else item.cosigned_at.isoformat(),
                }
                for item in services.witnessed_logs(web.session())
            ],
        }
    )


@bp.get("/api/v1/log/witnesses")
def log_witnesses() -> Response:
    """The witnesses of this exchange's log, the quorum, and how each one is doing: the size
    it last cosigned, its last success and its last error."""
    session = web.session()
    response = jsonify(
        {
            "quorum": policy.quorum(session),
            "witnesses": [
                policy.witness_status_json(item) for item in policy.active_witnesses(session)
            ],
        }
    )
    response.headers["Cache-Control"] = "no-cache"
    return response

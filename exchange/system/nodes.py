"""What a node of the exchange shares with the others, checked before it serves or works.

Several stateless nodes (``exchange serve`` on several machines behind a load balancer, and
``exchange worker``) serve one exchange when they share its database, its Redis (when rate
limits are counted there), its settings and its keys folder (docs/operations/nodes.md).
Everything else a node keeps locally is its own: its metrics files, its access log.

The database remembers which keys and which origin sign the log: its checkpoints. A node
started with other keys (a keys folder not mounted or not copied, so that its first start
made a fresh key) or another ``EXCHANGE_ORIGIN`` would sign checkpoints of a second,
conflicting log that no verifier and no witness would accept. So ``serve`` and ``worker``
check, before they start, that the newest checkpoint verifies under this node's keys and
origin, and refuse to start otherwise, saying what differs. After the keys were lost for
good, ``EXCHANGE_ADOPT_KEYS=1`` lets a node with new keys start (docs/operations/durability.md).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from exchange import signing
from exchange.keyring import ExchangeKey
from exchange.log import note
from exchange.log.services import latest_checkpoint
from exchange.log.verify import verify_checkpoint

logger = logging.getLogger(__name__)


def node_problem(
    session: Session, key: ExchangeKey, origin: str, *, adopt_keys: bool = False
) -> str | None:
    """Why this node must not serve the exchange in this database, or None when it may.

    ``adopt_keys`` (EXCHANGE_ADOPT_KEYS, after the exchange's keys were lost) lets a node
    with other keys, never another origin, start: it is logged as a warning.
    """
    stored = latest_checkpoint(session)
    if stored is None:
        # A new exchange: the first checkpoint any node signs pins its keys and origin.
        return None
    try:
        verify_checkpoint(stored.note, public_key=key.public_keys(), origin=origin)
    except signing.SigningError:
        pass
    else:
        return None
    try:
        body, _ = note.signature_lines(stored.note)
        signed_origin = note.parse_checkpoint(body).origin
    except signing.SigningError:
        signed_origin = "?"
    if signed_origin != origin:
        return (
            f"this database holds the log of {signed_origin!r}, but this node's "
            f"EXCHANGE_ORIGIN is {origin!r}: give every node the same settings"
        )
    if adopt_keys:
        logger.warning(
            "EXCHANGE_ADOPT_KEYS: the log (checkpoint at size %d) was signed by keys this node "
            "does not hold; from now on it signs with %s: partners must pin it",
            stored.tree_size,
            key.kid,
        )
        return None
    return (
        f"the log in this database (checkpoint at size {stored.tree_size}) was signed by a key "
        f"this node does not hold (it holds {', '.join(k.kid for k in key.all_keys())}): point "
        "EXCHANGE_KEYS_PATH at the exchange's keys folder, or copy that folder here"
    )

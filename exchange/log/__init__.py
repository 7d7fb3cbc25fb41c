"""The transparency log: an append-only RFC 9162 Merkle tree of every accepted object.

Each accepted footprint, key change (and later certificate, label and recognition) is an
entry whose bytes are the canonical signed object, so anyone can recompute its leaf. The
exchange signs C2SP checkpoints of the tree, serves inclusion and consistency proofs, and
hands out signed receipts; :mod:`exchange.log.verify` checks all of them offline.
"""

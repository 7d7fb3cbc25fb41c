"""Tables of the transparency log: entries, completed tree nodes, the head row, checkpoints."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, utcnow

# On SQLite only an INTEGER primary key is the table's own row id (no second index to
# keep up), and SQLite's INTEGER already holds 64 bits.
LogIndex = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class LogEntry(Base):
    """One leaf: which object was logged, and the hash of its canonical signed bytes.

    The bytes themselves stay with the object (a footprint record, a key); the audit
    rebuilds them from there and compares the leaf hash.
    """

    __tablename__ = "log_entries"
    __table_args__ = (sa.Index(None, "kind", "ref"),)

    log_index: Mapped[int] = mapped_column(LogIndex, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(32))
    ref: Mapped[str] = mapped_column(sa.String(300))
    leaf_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LogNode(Base):
    """The hash of a complete aligned subtree of level ≥ 1 (level 0 is the entries' leaf hash).

    A node covers leaves ``[position·2^level, (position+1)·2^level)`` and never changes
    once complete, so any root or proof is assembled from O(log n) of these rows. Its key
    is ``level·2^56 + position``: one integer, so that the nodes of a proof are fetched
    with one IN list on the primary key, and the nodes of one level lie side by side.
    """

    __tablename__ = "log_nodes"

    node_id: Mapped[int] = mapped_column(LogIndex, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class LogHead(Base):
    """The single row whose lock serialises appends across workers and machines."""

    __tablename__ = "log_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger)


class LogCheckpoint(Base):
    """A checkpoint the exchange signed; kept so the audit can hold it to the tree."""

    __tablename__ = "log_checkpoints"

    tree_size: Mapped[int] = mapped_column(LogIndex, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

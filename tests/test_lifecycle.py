"""The one lifecycle mechanism: moves, the reason rule, history rows and declared log kinds."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from exchange import lifecycle, models, signing
from exchange.errors import Conflict, ValidationFailed
from exchange.factors.models import FactorReview
from exchange.labels.models import AccreditationEvent, AccreditationStatus, CertificateEvent
from exchange.lifecycle import Lifecycle, LogKind
from exchange.organisations.models import Organisation, SigningKey
from exchange.partners.models import AgreementEvent, PartnerEvent
from exchange.rules.models import RuleDecision


class Light(enum.StrEnum):
    RED = "red"
    GREEN = "green"
    OFF = "off"


LIGHT = Lifecycle(
    "a light",
    {
        None: (Light.RED,),
        Light.RED: (Light.GREEN, Light.OFF),
        Light.GREEN: (Light.RED, Light.OFF),
        Light.OFF: (),
    },
)


def test_a_move_is_allowed_only_where_the_lifecycle_says() -> None:
    assert LIGHT.check(None, Light.RED) is Light.RED
    assert LIGHT.check(Light.RED, Light.GREEN) is Light.GREEN
    assert LIGHT.targets(Light.OFF) == ()
    assert LIGHT.sources(Light.OFF) == (Light.RED, Light.GREEN)
    with pytest.raises(Conflict, match=r"^a light cannot go from none to green$"):
        LIGHT.check(None, Light.GREEN)
    with pytest.raises(Conflict, match=r"^a light cannot go from off to red$"):
        LIGHT.check(Light.OFF, Light.RED)
    with pytest.raises(Conflict, match=r"^the light is off for good$"):
        LIGHT.check(Light.OFF, Light.RED, refusal="the light is off for good")


def test_a_lifecycle_declares_where_every_target_may_go() -> None:
    with pytest.raises(ValueError, match="undeclared"):
        Lifecycle("a light", {None: (Light.RED,), Light.RED: (Light.OFF,)})


def test_one_reason_rule_stripped_required_and_within_its_column() -> None:
    column = AccreditationEvent.reason  # String(500)
    assert lifecycle.reason("  audit finding \n", column=column) == "audit finding"
    assert lifecycle.reason("r" * 500, column=column) == "r" * 500
    with pytest.raises(ValidationFailed) as blank:
        lifecycle.reason(" \t", column=column)
    assert blank.value.message == "give a reason"
    assert blank.value.details == [{"field": "reason", "message": "required"}]
    with pytest.raises(ValidationFailed) as long:
        lifecycle.reason("r" * 501, column=column)
    assert long.value.details == [{"field": "reason", "message": "1 to 500 characters"}]
    assert lifecycle.reason("r" * 2000, column=PartnerEvent.reason) == "r" * 2000
    # A comment in an unbounded column: optional where the area says so, never too long.
    assert lifecycle.reason(" ", column=RuleDecision.comment, required=False) == ""
    assert lifecycle.reason("c" * 10_000, column=FactorReview.comment) == "c" * 10_000
    with pytest.raises(ValidationFailed) as needed:
        lifecycle.reason("", column=FactorReview.comment, field="comment", message="say why")
    assert (needed.value.message, needed.value.details) == (
        "say why",
        [{"field": "comment", "message": "required"}],
    )


def test_the_history_tables_share_their_columns() -> None:
    tables = [
        model.__table__
        for model in (AccreditationEvent, CertificateEvent, PartnerEvent, AgreementEvent)
    ]
    for table in tables:
        assert isinstance(table, sa.Table)
        assert table.c.id.primary_key
        assert [fk.column.table.name for fk in table.c.decided_by.foreign_keys] == ["organisations"]
        for name in ("id", "decided_by", "decided_at"):
            assert repr(table.c[name].type) == repr(tables[0].c[name].type)
    assert [repr(table.c.reason.type) for table in tables] == [
        "String(length=500)",
        "String(length=500)",
        "String(length=2000)",
        "String(length=2000)",
    ]
    assert [table.c.decided_by.nullable for table in tables] == [False, False, True, False]


def test_the_models_declare_every_log_kind_once() -> None:
    kinds = lifecycle.log_kinds(models.registry)
    assert sorted(kinds) == [
        "accreditation",
        "aggregation-attestation",
        "agreement",
        "certificate",
        "certificate-status",
        "factor-review",
        "footprint",
        "grading-scheme",
        "key",
        "key-revocation",
        "label",
        "partner",
        "recognition",
        "rule-decision",
        "witness",
        "witness-removal",
    ]
    # A table that keeps the log index of its rows is a logged table: it declares its kind.
    for mapper in models.registry.mappers:
        if "log_index" in mapper.columns and mapper.class_.__module__ != "exchange.log.models":
            assert any(kind.model is mapper.class_ for kind in kinds.values()), mapper.class_
    assert lifecycle.log_sources(models.registry).keys() == kinds.keys()


def test_a_kind_declared_twice_is_refused() -> None:
    class Other(DeclarativeBase):
        pass

    def entry(_row: object) -> bytes:
        return b""

    class First(Other):
        __tablename__ = "first"
        id: Mapped[int] = mapped_column(primary_key=True)
        log = LogKind("thing", entry=entry)

    class Second(Other):
        __tablename__ = "second"
        id: Mapped[int] = mapped_column(primary_key=True)
        log = LogKind("thing", entry=entry)

    assert First.log.model is First and Second.log.model is Second
    with pytest.raises(ValueError, match="'thing' is declared twice"):
        lifecycle.log_kinds(Other.registry)
    loose = LogKind("loose", entry=entry)
    with pytest.raises(TypeError, match="not declared on a model"):
        loose.append(Session(), [object()])


def test_a_declared_kind_rebuilds_entries_by_ref(db_session: Session) -> None:
    """Refs name rows by their key column (and suffix); a ref naming nothing, or a row that
    has no entry of the kind, is left out for the audit to report."""
    organisation = Organisation(id=str(uuid.uuid4()), name="Keys Co", country="CN")
    public_key = signing.public_key_from_jwk(
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    )
    kid = signing.key_id(public_key)
    key = SigningKey(
        kid=kid,
        organisation_id=organisation.id,
        public_key=public_key,
        not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    db_session.add_all([organisation, key])
    db_session.flush()
    [index] = SigningKey.log.append(db_session, [key])
    assert index == 0
    refs = [kid, "no-such-kid"]
    assert SigningKey.log.rebuild(db_session, refs) == {kid: key.log_entry()}
    assert SigningKey.revocation_log.rebuild(db_session, refs) == {}
    event = AccreditationEvent(
        body_id=organisation.id,
        status=AccreditationStatus.GRANTED,
        reason="ok",
        decided_by=organisation.id,
    )
    lifecycle.record(db_session, event)
    rebuilt = AccreditationEvent.log.rebuild(db_session, [str(event.id), "x", "-1", "٣"])
    assert rebuilt == {str(event.id): event.log_entry()}

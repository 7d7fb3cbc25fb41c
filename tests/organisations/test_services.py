"""Organisation rules and key validity windows."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from exchange.errors import Conflict, ValidationFailed
from exchange.organisations import services
from exchange.organisations.models import Role, SigningKey


def test_chinese_organisations_need_a_valid_code(db_session: Session) -> None:
    with pytest.raises(ValidationFailed) as missing:
        services.create_organisation(db_session, name="A", country="CN", roles=[Role.SUPPLIER])
    assert missing.value.details[0]["field"] == "uscc"
    with pytest.raises(ValidationFailed) as wrong:
        services.create_organisation(
            db_session, name="A", country="CN", roles=[Role.SUPPLIER], uscc="91350100M000100Y44"
        )
    assert "check character" in wrong.value.details[0]["message"]
    organisation = services.create_organisation(
        db_session, name="A", country="cn", roles=[Role.SUPPLIER], uscc="91350100m000100y43"
    )
    assert organisation.uscc == "91350100M000100Y43"
    with pytest.raises(Conflict):
        services.create_organisation(
            db_session, name="B", country="CN", roles=[Role.SUPPLIER], uscc="91350100M000100Y43"
        )
    foreign = services.create_organisation(
        db_session,
        name="Thai Coconut Ltd",
        country="TH",
        roles=[Role.SUPPLIER, Role.PARTNER_PROGRAMME],
        company_ids=["urn:pact:company:customcode:th:0105551234567"],
    )
    assert foreign.has_role(Role.PARTNER_PROGRAMME) and not foreign.has_role(Role.REGULATOR)


def test_key_validity_window_and_revocation() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    key = SigningKey(
        kid="k",
        organisation_id="o",
        public_key=b"\0" * 32,
        not_before=start,
        not_after=start + dt.timedelta(days=365),
        revoked_at=None,
        revocation_reason=None,
    )
    assert not key.valid_at(start - dt.timedelta(seconds=1))
    assert key.valid_at(start)
    assert not key.valid_at(start + dt.timedelta(days=365))
    key.revoked_at = start + dt.timedelta(days=10)
    # Signed before the revocation: still valid; after it: not.
    assert key.valid_at(start + dt.timedelta(days=9))
    assert not key.valid_at(start + dt.timedelta(days=10))

"""A partner host that silently loses records, over real HTTP on loopback: it answers an
empty page in the middle of a walk, or rewrites its log. The sync must not call that walk
complete: it keeps the cursor, reports the error (the CLI exits non-zero), and a later sync
decides every record exactly once. A fork also makes the CLI exit non-zero."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from exchange.db import transaction
from exchange.log import merkle
from exchange.partners.models import Recognition
from tests.mutual_recognition.conftest import Partnership
from tests.mutual_recognition.partner_host import PartnerHost
from tests.mutual_recognition.test_federation_outage import (  # noqa: F401 (the fixture)
    outage,
    partner,
    publish,
    sync_cli,
)


def _decided(partnership: Partnership, partner_id: str) -> Counter[str]:
    with transaction(partnership.app.extensions["exchange.sessions"]) as session:
        return Counter(
            session.scalars(
                sa.select(Recognition.record_id).where(Recognition.partner_id == partner_id)
            )
        )


def test_an_empty_page_mid_walk_keeps_the_cursor_and_every_record_is_decided_once(
    outage: tuple[Partnership, str, PartnerHost],  # noqa: F811 (the imported fixture)
) -> None:
    partnership, partner_id, host = outage
    published = {publish(partnership, host) for _ in range(5)}  # pages of 2, 2 and 1
    host.empty_offsets = {2}  # the second page comes back empty, with no Link

    result, report = sync_cli(partnership.app, partner_id)
    assert result.exit_code != 0
    assert report["complete"] is False and "empty page" in report["error"], report
    assert report["recognised"] == 2
    stopped = partner(partnership.app, partner_id)
    assert stopped.sync_next_url is not None and "offset=2" in stopped.sync_next_url
    assert stopped.sync_stop_id is None  # no walk completed: nothing is taken as seen
    assert "empty page" in (stopped.last_sync_error or "")

    # The page is served again: the sync resumes there and decides the rest, once each.
    host.empty_offsets = set()
    result, report = sync_cli(partnership.app, partner_id)
    assert result.exit_code == 0, result.output
    assert report["complete"] is True and report["recognised"] == 3, report
    decided = _decided(partnership, partner_id)
    assert set(decided) == published and set(decided.values()) == {1}

    # New records, and the host loses a page again before the last sync's newest record.
    newer = {publish(partnership, host) for _ in range(3)}
    host.empty_offsets = {2}
    result, report = sync_cli(partnership.app, partner_id)
    assert result.exit_code != 0 and report["complete"] is False, report
    host.empty_offsets = set()
    result, report = sync_cli(partnership.app, partner_id)
    assert result.exit_code == 0 and report["complete"] is True, report
    decided = _decided(partnership, partner_id)
    assert set(decided) == published | newer and set(decided.values()) == {1}


def test_a_list_that_ends_before_the_last_walks_head_is_no_complete_sync(
    outage: tuple[Partnership, str, PartnerHost],  # noqa: F811 (the imported fixture)
) -> None:
    partnership, partner_id, host = outage
    published = {publish(partnership, host) for _ in range(3)}
    result, report = sync_cli(partnership.app, partner_id)
    assert result.exit_code == 0, report
    # Four new records; the host cuts its list short on the second page (one of its two
    # records, no Link), well before the record the last complete walk began at: the
    # oldest new record would never be fetched if that were taken as the list's end.
    newer = {publish(partnership, host) for _ in range(4)}
    host.short_offsets = {2}
    result, report = sync_cli(partnership.app, partner_id)
    assert result.exit_code != 0, report
    assert report["complete"] is False and "ended" in report["error"], report
    assert "offset=2" in (partner(partnership.app, partner_id).sync_next_url or "")
    host.short_offsets = set()
    result, report = sync_cli(partnership.app, partner_id)
    assert result.exit_code == 0 and report["complete"] is True, report
    decided = _decided(partnership, partner_id)
    assert set(decided) == published | newer and set(decided.values()) == {1}


def test_a_fork_makes_the_sync_command_fail(
    outage: tuple[Partnership, str, PartnerHost],  # noqa: F811 (the imported fixture)
) -> None:
    partnership, partner_id, host = outage
    for _ in range(2):
        publish(partnership, host)
    result, report = sync_cli(partnership.app, partner_id)
    assert result.exit_code == 0 and report["fork"] is None, report
    # The host rewrites its history: same size, another root.
    host.leaves[0] = merkle.leaf_hash(b"a record that was never submitted")
    result, report = sync_cli(partnership.app, partner_id)
    assert report["fork"] is not None, report
    assert result.exit_code != 0

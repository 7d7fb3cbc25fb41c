"""Mutual recognition with foreign partner programmes.

How partner records are stored. A partner programme is represented here by a local
organisation (role ``partner-programme``); a record we recognise is stored as an ordinary
footprint record owned by it, signed by the partner's supplier (whose key is registered
to that organisation), logged in our log, and linked to its signed recognition decision.
So everything that reads records — the one visibility rule (``visible_to``), aggregation
(a chain-owner pins it by record id, or names the partner organisation and product),
certificates and labels, PACT lists, the verification bundle — uses it with no change of
its own. Its disclosure is the partner's ``recognisedDisclosure`` (public by default:
the partner shared it with the programme). When its recognition is flagged (agreement
suspended or withdrawn, partner suspended), the record becomes private to the partner's
organisation, so nothing new may use it, and the existing stale-marking service
(``mark_inputs_stale``) marks every derived footprint that used it. Refused records are
not stored as records: their decision keeps the envelope as evidence.

- :mod:`.programmes`: onboarding partners, their trust anchors, agreements and their status
  flows (the register they change, and its reads, are :mod:`exchange.partners`);
- :mod:`.recognition`: the checks of one record and the signed, logged decision;
- :mod:`.federation`: the PACT client, the sync and the partner's log (forks);
- :mod:`.bundle`: the verification bundle of one of our records.
"""

from exchange.mutual_recognition.services.bundle import verification_bundle
from exchange.mutual_recognition.services.federation import (
    SYNC_JOB,
    PartnerClient,
    SyncError,
    SyncReport,
    records_accepted_hook,
    schedule_sync,
    sync_all,
    sync_partner,
)
from exchange.mutual_recognition.services.programmes import (
    accept_trust_list,
    amend_agreement,
    create_agreement,
    expire_agreements,
    expire_on_schedule,
    expiry_due,
    flag_key_revoked,
    forks_of,
    register_partner,
    require_regulator,
    revoke_anchor,
    set_agreement_status,
    set_partner_status,
)
from exchange.mutual_recognition.services.recognition import (
    Inbound,
    LogEvidence,
    decide,
    list_recognitions,
)
from exchange.partners.services import (
    agreement_history,
    agreements_in_force,
    anchors_of,
    get_agreement,
    get_partner,
    list_agreements,
    list_partners,
    partner_history,
    trust_list_entries,
    valid_anchors,
    visible_agreement,
)

__all__ = [
    "SYNC_JOB",
    "Inbound",
    "LogEvidence",
    "PartnerClient",
    "SyncError",
    "SyncReport",
    "accept_trust_list",
    "agreement_history",
    "agreements_in_force",
    "amend_agreement",
    "anchors_of",
    "create_agreement",
    "decide",
    "expire_agreements",
    "expire_on_schedule",
    "expiry_due",
    "flag_key_revoked",
    "forks_of",
    "get_agreement",
    "get_partner",
    "list_agreements",
    "list_partners",
    "list_recognitions",
    "partner_history",
    "records_accepted_hook",
    "register_partner",
    "require_regulator",
    "revoke_anchor",
    "schedule_sync",
    "set_agreement_status",
    "set_partner_status",
    "sync_all",
    "sync_partner",
    "trust_list_entries",
    "valid_anchors",
    "verification_bundle",
    "visible_agreement",
]

"""How each API endpoint authenticates its caller, declared in one place.

This table is what the app enforces and what the OpenAPI document publishes:

- before every view, :func:`exchange.organisations.access.authenticate_caller` reads the endpoint's
  declaration here: a ``REQUIRED`` endpoint without a valid bearer token is answered 401
  before its view runs; an ``OPTIONAL`` one authenticates a token if one was sent (a bad one
  is a 401) and is anonymous otherwise; ``NONE`` reads no token at all;
- a view reads its caller with ``access.require_principal(scope)`` (which also checks the
  token's scope) or ``access.optional_principal()`` (:mod:`exchange.organisations.access`),
  and each raises a ``RuntimeError`` when the endpoint is not declared ``REQUIRED`` or
  ``OPTIONAL`` respectively, so a view can never read a caller the table (and so the
  document) does not announce;
- :mod:`exchange.apidoc.spec` builds each operation's ``security`` from :func:`of`.

Why one table and not a decorator on each view: the 80 views that read a caller already
call ``require_principal`` / ``optional_principal`` as they start (a few in a helper), with
the scope they need; a decorator would have to be added to every one of them across thirteen
areas (and would duplicate that call). The table is keyed by Flask endpoint name, as
:mod:`exchange.security`'s rate-limited endpoint sets are; an endpoint not named here is
``NONE`` (the portal's pages, which use their own signed-in session, are such endpoints).
"""

from __future__ import annotations

import enum
from typing import Final


class Authentication(enum.Enum):
    """What an endpoint needs of its caller."""

    NONE = "none"  # anonymous: an Authorization header is ignored
    OPTIONAL = "optional"  # a bearer token if one is sent (a bad one is refused), else anonymous
    REQUIRED = "required"  # a valid bearer token (its scope is the view's to check)
    CLIENT_CREDENTIALS = "client-credentials"  # OAuth2's token endpoint: a client id and secret


REQUIRED: Final = frozenset(
    {
        # keys
        "organisations.register_key",
        "organisations.revoke_key",
        # footprint records and shares
        "footprints.submit",
        "footprints.import_unsigned",
        "footprints.put_disclosure",
        "footprints.create_share",
        "footprints.list_shares",
        "footprints.delete_share",
        # PACT host, requests and events
        "pact.list_footprints",
        "pact.get_footprint",
        "pact.events",
        "pact.get_events_endpoint",
        "pact.put_events_endpoint",
        "pact.create_request",
        "pact.list_requests",
        "pact.fulfil_request",
        "pact.reject_request",
        # factors and rules
        "factors.declare_factor",
        "factors.review_factor",
        "factors.import_factors",
        "rules.propose_rule",
        "rules.add_demand",
        "rules.transition_rule",
        # certification and labels
        "labels.decide_accreditation",
        "labels.certify",
        "labels.change_certificate",
        "labels.publish_scheme",
        "labels.issue_label",
        # aggregation
        "aggregation.define_product",
        "aggregation.list_products",
        "aggregation.get_product",
        "aggregation.put_bom",
        "aggregation.compute",
        "aggregation.get_result",
        "aggregation.explain",
        "aggregation.export",
        "aggregation.derived_footprint",
        "aggregation.request_missing",
        "aggregation.list_notices",
        "aggregation.recompute_stale",
        # disclosure
        "disclosure.define",
        "disclosure.requirements",
        "disclosure.requirement",
        "disclosure.withdraw",
        "disclosure.compliance",
        "disclosure.compliance_page",
        "disclosure.overview",
        "disclosure.overview_page",
        "disclosure.reminders",
        # trade, sites, flows
        "trade.export_json",
        "trade.export_page",
        "sites.register",
        "sites.list_sites",
        "sites.get_site",
        "sites.record_production",
        "sites.rollup",
        "sites.rollup_page",
        "flows.outbound",
        "flows.summary",
        # mutual recognition
        "mutual_recognition.register_partner",
        "mutual_recognition.partner_status",
        "mutual_recognition.revoke_anchor",
        "mutual_recognition.sync_partner",
        "mutual_recognition.upload_records",
        "mutual_recognition.list_recognitions",
        "mutual_recognition.create_agreement",
        "mutual_recognition.amend_agreement",
        "mutual_recognition.agreement_status",
    }
)

# Public reads that show a signed-in caller more (its own private records, its pending
# declarations, agreements in draft for the regulator).
OPTIONAL: Final = frozenset(
    {
        "footprints.get_footprint",
        "footprints.list_footprints",
        "mutual_recognition.verification",
        "aggregation.provenance",
        "factors.list_factors",
        "factors.get_factor",
        "factors.export_factors",
        "rules.list_rules",
        "rules.list_demands",
        "scenarios.procurement",
        "scenarios.disclosure",
        "scenarios.reductions",
        "mutual_recognition.list_agreements",
        "mutual_recognition.get_agreement",
    }
)

CLIENT_CREDENTIALS: Final = frozenset({"organisations.token"})


def of(endpoint: str | None) -> Authentication:
    """The declared authentication of a Flask endpoint (``NONE`` for one not named here)."""
    if endpoint in REQUIRED:
        return Authentication.REQUIRED
    if endpoint in OPTIONAL:
        return Authentication.OPTIONAL
    if endpoint in CLIENT_CREDENTIALS:
        return Authentication.CLIENT_CREDENTIALS
    return Authentication.NONE

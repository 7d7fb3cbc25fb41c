"""The Footprint Exchange: signed product carbon footprints between companies and programmes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(
    test_config: Mapping[str, Any] | None = None, *, instance_path: str | None = None
) -> Flask:
    """Build the WSGI application: settings, database, exchange key, blueprints, errors."""
    # Imported here, not at the top: importing ``exchange`` alone must not need the server's
    # dependencies, so that the offline bundle verifier runs with PyNaCl and rfc8785 only.
    from flask import Flask

    from exchange import db, observability, security, web
    from exchange.config import settings_from_environment
    from exchange.keyring import Keyring
    from exchange.mutual_recognition import views as recognition_views
    from exchange.organisations import access
    from exchange.verifying import Verifier

    app = Flask(
        __name__,
        instance_path=instance_path or os.environ.get("EXCHANGE_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    app.config.update(settings_from_environment(Path(app.instance_path)))
    if test_config is not None:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    engine = db.make_engine(app.config["DATABASE_URL"])
    app.extensions["exchange.engine"] = engine
    # Every engine the app opens (the rate limits may add theirs): the connections a process
    # forked from this one must not share (exchange.system.gunicorn_settings.release_connections).
    app.extensions["exchange.engines"] = [engine]
    # The same pool, for the hot read-only paths (label verification) that must not take
    # SQLite's write lock.
    app.extensions["exchange.reader"] = db.reader(engine)
    app.extensions["exchange.sessions"] = db.make_session_factory(engine)
    # Requests read the keyring (which follows rotations); commands, which run briefly, and
    # tests use the key as it was at start.
    keyring = Keyring(Path(app.config["KEYS_PATH"]))
    app.extensions["exchange.keyring"] = keyring
    app.extensions["exchange.key"] = keyring.current()
    _connect_node_check(app)
    app.extensions["exchange.verifier"] = Verifier(
        processes=app.config["VERIFY_PROCESSES"], threshold=app.config["VERIFY_PARALLEL_MIN"]
    )
    app.teardown_appcontext(web.close_session)
    app.extensions["exchange.log_sources"] = _log_sources()
    app.extensions["exchange.job_handlers"] = _job_handlers()
    app.extensions["exchange.schedules"] = _schedules()
    _connect_witnessing(app)

    _configure_portal_sessions(app)
    observability.init_app(app)
    web.register_error_handlers(app)
    _register_converters(app)
    app.before_request(web.refuse_plain_http)
    app.before_request(web.refuse_nul_characters)
    # Before anything of the request touches the database (see its docstring).
    app.before_request(recognition_views.apply_due_expiries)
    security.install(app)
    # After the rate limits: who the caller is, as exchange.authentication declares it.
    app.before_request(access.authenticate_caller)
    _register_blueprints(app)
    _register_listeners(app)
    _register_commands(app)
    return app


def _configure_portal_sessions(app: Flask) -> None:
    """Signed session cookies of the portal, keyed from the exchange key (keys folder);
    each names a session held in the database (exchange.portal.models.PortalSession)."""
    import datetime as dt

    from exchange.db import utcnow
    from exchange.portal.security import KeyringSessions

    app.session_interface = KeyringSessions()
    app.config.update(
        SESSION_COOKIE_NAME="fx_portal",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config["REQUIRE_HTTPS"]),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(
            seconds=app.config["PORTAL_SESSION_LIFETIME_SECONDS"]
        ),
    )
    # What time the portal's sessions are judged at (tests move it).
    app.extensions["exchange.portal.clock"] = utcnow


def _connect_node_check(app: Flask) -> None:
    """What ``exchange worker`` (core) checks before it starts: that this node's keys and
    origin are those that signed the exchange's log (exchange.system.nodes, above it)."""
    from sqlalchemy.orm import Session

    from exchange.system.nodes import node_problem

    def check(session: Session) -> str | None:
        keyring = app.extensions["exchange.keyring"]
        return node_problem(
            session,
            keyring.current(),
            app.config["EXCHANGE_ORIGIN"],
            adopt_keys=app.config["ADOPT_KEYS"],
        )

    app.extensions["exchange.node_check"] = check


def _log_sources() -> dict[str, Any]:
    """How the audit rebuilds each kind of log entry: the log kinds the models declare
    (exchange.lifecycle.LogKind), collected from every table of the exchange."""
    from exchange import lifecycle, models

    return lifecycle.log_sources(models.registry)


def _job_handlers() -> dict[str, Any]:
    """What ``exchange worker`` runs for each kind of queued job."""
    from exchange.labels.services import trust
    from exchange.mutual_recognition import services as recognition
    from exchange.pact import services as pact
    from exchange.witness import collect

    return {
        pact.DELIVER_EVENT: pact.deliver_event,
        recognition.SYNC_JOB: recognition.sync_all,
        trust.RENEW_JOB: trust.renew,
        collect.COLLECT_JOB: collect.collect_job,
    }


def _schedules() -> list[Any]:
    """What ``exchange worker`` queues by itself, looked at on each round of the queue."""
    from exchange.labels.services import trust
    from exchange.mutual_recognition import services as recognition
    from exchange.witness import collect

    return [
        recognition.schedule_sync,
        recognition.expire_on_schedule,
        trust.schedule_renewal,
        collect.schedule_collection,
    ]


def _connect_witnessing(app: Flask) -> None:
    """What the witness area (core) may know of partner programmes (an area above it): a
    partner's name and log origin, and its valid trust anchors, which sign its checkpoints;
    and what the log (below it) serves of its cosignatures."""
    from sqlalchemy.orm import Session

    from exchange.partners import services as programmes
    from exchange.witness import policy
    from exchange.witness import services as witnessing
    from exchange.witness.cli import PARTNERS
    from exchange.witness.views import PARTNER_KEYS

    def facts(session: Session, partner_id: str) -> witnessing.PartnerFacts:
        partner = programmes.get_partner(session, partner_id)
        return witnessing.PartnerFacts(partner.name, partner.log_origin)

    def anchors(session: Session, partner_id: str) -> list[bytes]:
        return list(programmes.valid_anchors(session, partner_id).values())

    app.extensions[PARTNERS] = facts
    app.extensions[PARTNER_KEYS] = anchors
    # The log serves its checkpoints with the cosignatures this area collected.
    app.extensions["exchange.log.cosignatures"] = policy


def _register_converters(app: Flask) -> None:
    """The kinds of id in URL paths (exchange.routing): the core's, then those areas declare
    beside their views. Before the blueprints: a rule is parsed when it is added."""
    from exchange import routing
    from exchange.labels.views import GtinConverter, LotConverter
    from exchange.rules.views import RuleCodeConverter

    app.url_map.converters.update(routing.CONVERTERS)
    app.url_map.converters.update(
        {"gtin": GtinConverter, "lot": LotConverter, "rulecode": RuleCodeConverter}
    )


def _register_blueprints(app: Flask) -> None:
    from exchange.aggregation.views import bp as aggregation_bp
    from exchange.apidoc.views import bp as apidoc_bp
    from exchange.disclosure.views import bp as disclosure_bp
    from exchange.factors.views import bp as factors_bp
    from exchange.footprints.flows.views import bp as flows_bp
    from exchange.footprints.views import bp as footprints_bp
    from exchange.labels.views import bp as labels_bp
    from exchange.log.views import bp as log_bp
    from exchange.mutual_recognition.views import bp as mutual_recognition_bp
    from exchange.organisations.views import bp as organisations_bp
    from exchange.pact.views import bp as pact_bp
    from exchange.portal.views import bp as portal_bp
    from exchange.rules.views import bp as rules_bp
    from exchange.scenarios.views import bp as scenarios_bp
    from exchange.sites.views import bp as sites_bp
    from exchange.system.views import bp as system_bp
    from exchange.trade.views import bp as trade_bp
    from exchange.witness.views import bp as witness_bp

    app.register_blueprint(system_bp)
    app.register_blueprint(organisations_bp)
    app.register_blueprint(footprints_bp)
    app.register_blueprint(log_bp)
    app.register_blueprint(pact_bp)
    app.register_blueprint(factors_bp)
    app.register_blueprint(rules_bp)
    app.register_blueprint(labels_bp)
    app.register_blueprint(aggregation_bp)
    app.register_blueprint(trade_bp)
    app.register_blueprint(sites_bp)
    app.register_blueprint(disclosure_bp)
    app.register_blueprint(scenarios_bp)
    app.register_blueprint(mutual_recognition_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(flows_bp)
    app.register_blueprint(witness_bp)
    app.register_blueprint(apidoc_bp)


def _register_listeners(app: Flask) -> None:
    """Who hears what an area's views announce (:class:`exchange.web.Hook`): areas above it,
    which it must not import. Listeners run in the order registered here."""
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from exchange import web
    from exchange.aggregation import services as aggregation
    from exchange.footprints import views as footprints
    from exchange.footprints.services import NewRecord
    from exchange.labels import views as labels
    from exchange.pact import views as pact

    footprints.RECORDS_ACCEPTED.listen(app, pact.records_accepted)
    footprints.RECORDS_ACCEPTED.listen(app, aggregation.records_accepted)

    def attest_derived(session: Session, created: Sequence[NewRecord]) -> None:
        aggregation.attest_accepted(
            session, created, key=web.exchange_key(), origin=app.config["EXCHANGE_ORIGIN"]
        )

    # Logged after its record, so it runs once the records have their indexes (with the
    # log head locked): it costs no query for a record that carries no provenance of ours.
    footprints.RECORDS_LOGGED.listen(app, attest_derived)
    footprints.RECORD_SHARED.listen(app, pact.record_shared)
    labels.CERTIFICATE_REVOKED.listen(app, aggregation.mark_inputs_stale)


def _register_commands(app: Flask) -> None:
    from exchange.disclosure.cli import disclosure_cli
    from exchange.factors.cli import factors_cli
    from exchange.footprints.flows.cli import flows_cli
    from exchange.jobs.cli import worker_command
    from exchange.labels.cli import labels_cli
    from exchange.log.cli import audit_command
    from exchange.mutual_recognition.cli import partners_cli
    from exchange.organisations.cli import client_cli, org_cli
    from exchange.portal.cli import portal_cli
    from exchange.rules.cli import rules_cli
    from exchange.scenarios.cli import scenarios_cli
    from exchange.sites.cli import sites_cli
    from exchange.system.cli import (
        backup_command,
        init_db_command,
        restore_command,
    )
    from exchange.trade.cli import trade_cli
    from exchange.witness.cli import witness_cli

    for command in (
        init_db_command,
        backup_command,
        restore_command,
        org_cli,
        client_cli,
        audit_command,
        worker_command,
        factors_cli,
        rules_cli,
        labels_cli,
        trade_cli,
        sites_cli,
        disclosure_cli,
        scenarios_cli,
        partners_cli,
        portal_cli,
        flows_cli,
        witness_cli,
    ):
        app.cli.add_command(command)

"""HTTP API of trade-policy exports: JSON and printable pages, and the extension's schema."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, current_app, jsonify, render_template
from sqlalchemy.orm import Session

from exchange import web
from exchange.footprints import services as footprints
from exchange.footprints.models import FootprintRecord
from exchange.keyring import ExchangeKey
from exchange.organisations import access
from exchange.trade import services
from exchange.trade.schemas import PAGE_POLICY

bp = Blueprint("trade", __name__, url_prefix="/api/v1/trade", template_folder="templates")

Exporter = Callable[..., services.Export]
_EXPORTS: dict[str, tuple[Exporter, str]] = {
    "battery-declaration": (services.battery_declaration, "trade/battery.html"),
    "cbam-report": (services.cbam_report, "trade/cbam.html"),
}


def _export(record_id: str, kind: str) -> services.Export:
    session: Session = web.session()
    principal = access.require_principal("footprints:read")
    record: FootprintRecord = footprints.get_record(session, principal, record_id)
    exporter, _template = _EXPORTS[kind]
    key: ExchangeKey = web.exchange_key()
    export = exporter(session, record, key=key, origin=current_app.config["EXCHANGE_ORIGIN"])
    session.commit()  # the checkpoint it cites may be new
    return export


def page(html: str, status: int = 200) -> Response:
    """A printable page: no script at all, nothing from elsewhere."""
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/records/<id:record_id>/<any('battery-declaration', 'cbam-report'):kind>")
def export_json(record_id: str, kind: str) -> Response:
    return jsonify(_export(record_id, kind).document)


@bp.get("/records/<id:record_id>/<any('battery-declaration', 'cbam-report'):kind>.html")
def export_page(record_id: str, kind: str) -> Response:
    try:
        export = _export(record_id, kind)
    except services.MissingData as missing:
        html = render_template(
            "trade/missing.html",
            rule=missing.rule,
            record_id=missing.record_id,
            missing=missing.details,
        )
        return page(html, status=missing.status)
    return page(render_template(_EXPORTS[kind][1], doc=export.document))


@bp.get("/extensions/trade-data/1.0.0/schema.json", strict_slashes=False)
def extension_schema() -> Response:
    return jsonify(services.trade_extension_schema(web.pact_host().base_url))

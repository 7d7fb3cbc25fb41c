"""HTTP API and printable pages of the application scenarios, under /api/v1/scenarios.

Every endpoint answers JSON by default, ``?format=csv`` a CSV table and ``?format=html`` a
printable page (server-rendered, no script). Bearer tokens as everywhere; without one the
caller is anonymous and reads the public part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from exchange import web
from exchange.log.services import ensure_checkpoint
from exchange.organisations import access
from exchange.scenarios import schemas, services

# The pages run no code and load only their own style sheet.
PAGE_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)

bp = Blueprint(
    "scenarios",
    __name__,
    url_prefix="/api/v1/scenarios",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def _csv(columns: Sequence[str], rows: Sequence[dict[str, object]], name: str) -> Response:
    response = Response(schemas.to_csv(columns, rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _page(template: str, **context: Any) -> Response:
    response = Response(render_template(template, **context), mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _links() -> dict[str, str]:
    """The same document as JSON and as CSV, for the page's download links."""
    links = {}
    for name in ("json", "csv"):
        args = {**request.args.to_dict(), "format": name}
        links[name] = f"{request.path}?{urlencode(args)}"
    return links


@bp.get("/procurement")
def procurement() -> Response:
    """Green-procurement list: ``category``, ``grade`` (worst accepted), ``rule``,
    ``region``, ``asOf``. Public data: anyone may read it."""
    access.optional_principal()
    output = schemas.output_format(request.args)
    query = schemas.procurement_query(request.args)
    found = services.procurement_list(web.session(), query)
    document = schemas.procurement_json(found)
    if output == "csv":
        return _csv(schemas.PROCUREMENT_COLUMNS, schemas.procurement_rows(found), "procurement")
    if output == "html":
        return _page("scenarios/procurement.html", document=document, links=_links())
    return jsonify(document)


@bp.get("/disclosure/<id:company_id>")
def disclosure(company_id: str) -> Response:
    """A company's disclosure report: in full for the company and the regulator, the public
    part for anyone else. Cites a signed log checkpoint that covers everything listed."""
    viewer = access.optional_principal()
    output = schemas.output_format(request.args)
    deprecated = schemas.include_deprecated(request.args)
    session = web.session()
    checkpoint = ensure_checkpoint(
        session, web.exchange_key(), str(current_app.config["EXCHANGE_ORIGIN"])
    )
    report = services.disclosure_report(
        session,
        viewer,
        company_id,
        log_size=checkpoint.tree_size,
        include_deprecated=deprecated,
    )
    indexes = [item.record.log_index for item in report.records]
    indexes += [entry.certificate.log_index for entry in report.certificates]
    leaves = services.leaf_hashes(session, indexes)
    session.commit()
    document = schemas.disclosure_json(report, leaves, checkpoint.note)
    if output == "csv":
        return _csv(schemas.DISCLOSURE_COLUMNS, schemas.disclosure_rows(document), "disclosure")
    if output == "html":
        return _page("scenarios/disclosure.html", document=document, links=_links())
    return jsonify(document)


@bp.get("/reductions")
def reductions() -> Response:
    """Carbon-inclusion reduction of one ``record`` (as the caller may see it) or one
    ``certificate`` against its category's benchmark; ``quantity`` and ``quantityUnit``."""
    viewer = access.optional_principal()
    output = schemas.output_format(request.args)
    query = schemas.reduction_query(request.args)
    found = services.reduction(web.session(), viewer, query)
    document = schemas.reduction_json(found)
    if output == "csv":
        return _csv(schemas.REDUCTION_COLUMNS, schemas.reduction_rows(document), "reductions")
    if output == "html":
        return _page("scenarios/reductions.html", document=document, links=_links())
    return jsonify(document)

"""Public pages: the registry of certified products with their grades, and label checks."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, request

from exchange.errors import ValidationFailed
from exchange.labels import claims as label_claims
from exchange.labels import services as labels
from exchange.portal import services as portal
from exchange.portal.views.common import bp, db, form_text, render

STATUSES = ("active", "suspended", "revoked", "expired", "accreditation-withdrawn")


@bp.get("/registry")
def registry() -> tuple[str, int]:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        status = None
    entries = labels.registry(
        db(),
        query=request.args.get("q", "")[:200] or None,
        category=request.args.get("category", "")[:300] or None,
        status=status,
        limit=200,
    )
    return render(
        "registry.html",
        entries=entries,
        q=request.args.get("q", "")[:200],
        category=request.args.get("category", "")[:300],
        status=status or "",
        statuses=STATUSES,
        categories=portal.certified_categories(db()),
    )


@bp.get("/verify")
def verify() -> tuple[str, int]:
    return render("verify.html", verdict=None, text="", landing=None)


@bp.post("/verify")
def verify_submit() -> tuple[str, int]:
    """The server's verdict on pasted (or camera-scanned) label text."""
    text = form_text("text", 2000).strip()
    if not text:
        raise ValidationFailed("paste the text of the label's QR code")
    reader: sa.Engine = current_app.extensions["exchange.reader"]
    with reader.connect() as connection:
        verdict, certificate_status = labels.verify_text(
            connection, text, origin=str(current_app.config["EXCHANGE_ORIGIN"])
        )
    claims = None if verdict.claims is None else label_claims.claims_document(verdict.claims)
    # The label's own verification page (exchange/labels/static), served on this host: it
    # checks the signature in the browser against the pinned trust list, and works offline.
    parts = urlsplit(text)
    landing = f"{parts.path}?{parts.query}" if parts.path.upper().startswith("/01/") else None
    return render(
        "verify.html",
        verdict=verdict,
        claims=claims,
        certificate_status=certificate_status,
        text=text,
        landing=landing,
    )

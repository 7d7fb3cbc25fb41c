"""Sites and industrial parks in the portal: the sites a person may see and each one's
roll-up (emissions, footprint per unit, certified share, grades). Thin pages over
exchange/sites, whose visibility rule applies."""

from __future__ import annotations

from exchange.db import utcnow
from exchange.organisations.models import Role
from exchange.portal.security import roles_required
from exchange.portal.views.common import RECORD_ROLES, bp, db, principal, render
from exchange.sites import schemas as site_schemas
from exchange.sites import services as sites


@bp.get("/sites")
@roles_required(*RECORD_ROLES, Role.REGULATOR)
def site_list() -> tuple[str, int]:
    found = sites.list_sites(db(), principal())
    return render("sites.html", sites=[site_schemas.site_json(site) for site in found])


@bp.get("/sites/<id:site_id>")
@roles_required(*RECORD_ROLES, Role.REGULATOR)
def site_rollup(site_id: str) -> tuple[str, int]:
    session, viewer, now = db(), principal(), utcnow()
    whole, factories = sites.site_rollup(session, viewer, site_id, now=now)
    site = sites.get_site(session, viewer, site_id)
    document = site_schemas.site_rollup_json(
        site, whole, factories, now=now, period_from=None, period_to=None
    )
    return render("site.html", doc=document)

"""Every table of the exchange, gathered so that Alembic sees the whole schema and the audit
every log kind the models declare (exchange.lifecycle.log_sources over ``registry``)."""

from __future__ import annotations

from exchange.aggregation import models as aggregation_models
from exchange.db import Base
from exchange.disclosure import models as disclosure_models
from exchange.factors import models as factors_models
from exchange.footprints import models as footprints_models
from exchange.footprints.flows import models as flows_models
from exchange.jobs import models as jobs_models
from exchange.labels import models as labels_models
from exchange.log import models as log_models
from exchange.organisations import models as organisations_models
from exchange.pact import models as pact_models
from exchange.partners import models as partners_models
from exchange.portal import models as portal_models
from exchange.rules import models as rules_models
from exchange.security import models as security_models
from exchange.sites import models as sites_models
from exchange.witness import models as witness_models

__all__ = [
    "aggregation_models",
    "disclosure_models",
    "factors_models",
    "flows_models",
    "footprints_models",
    "jobs_models",
    "labels_models",
    "log_models",
    "metadata",
    "organisations_models",
    "pact_models",
    "partners_models",
    "portal_models",
    "registry",
    "rules_models",
    "security_models",
    "sites_models",
    "witness_models",
]

metadata = Base.metadata
registry = Base.registry

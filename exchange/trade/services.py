"""Trade-policy exports: a signed record as the carbon rules of export markets ask for it.

Two exports, each computed from one footprint record and citing it (record id, signer key
id, signature, transparency-log index with an inclusion proof against a signed checkpoint):

* an **EU Battery Regulation** style carbon-footprint declaration (Regulation (EU)
  2023/1542, Art. 7 and Annex II), and
* an **EU CBAM** style embedded-emissions report (Regulation (EU) 2023/956 and Implementing
  Regulation (EU) 2023/1773: specific direct and indirect embedded emissions per tonne).

Where the record lacks what a rule needs, :class:`MissingData` lists every missing field.

Where the numbers come from (the mapping, field by field)
---------------------------------------------------------

PACT v3 ``ProductFootprint.pcf`` states the footprint of ``declaredUnitAmount`` x
``declaredUnitOfMeasurement`` (the *declared quantity*), not of one unit. It has no
life-cycle stage breakdown, no battery capacity and no direct/indirect split; its only
stage-like members are ``packagingGhgEmissions`` (packaging, part of the total) and
``outboundLogisticsGhgEmissions`` (transport from the gate, i.e. distribution). The rest
travels in a PACT DataModelExtension whose ``dataSchema`` ends with
:data:`TRADE_EXTENSION_PATH` (schema: :func:`trade_extension_schema`), signed with the
footprint like every other member. All its amounts are kg CO2e for the declared quantity,
the same basis as the pcf, as decimal strings::

    {"lifeCycleStages": {"rawMaterialAcquisition": "...", "mainProduction": "...",
                         "distribution": "...", "endOfLife": "..."},
     "battery": {"ratedEnergyCapacityKWh": "...", "expectedLifetimeCycles": "..."},
     "embeddedEmissions": {"direct": "...", "indirect": "...",
                           "directSource": "actual" | "default",
                           "indirectSource": "actual" | "default",
                           "productionRoute": "...", "cnCode": "72071111",
                           "installation": {"name": "...", "country": "CN",
                                            "identifier": "...", "unLocode": "..."}}}

Battery declaration
  * Functional unit: **1 kWh of the total energy the battery provides over its service life**
    (Annex II): total energy = declared quantity's rated energy capacity x expected number of
    full equivalent cycles (``battery.expectedLifetimeCycles``).
  * Rated capacity: for ``declaredUnitOfMeasurement`` = ``kilowatt hour`` the declared unit
    *is* one kWh of rated capacity, so the declared quantity's capacity is
    ``declaredUnitAmount`` kWh; for any other unit (``piece``, ``kilogram``, ...) it is
    ``declaredUnitAmount`` x ``battery.ratedEnergyCapacityKWh`` (the rated energy of ONE
    declared unit). Without either the capacity is missing.
  * Total carbon footprint: ``pcf.pcfIncludingBiogenicUptake`` (the value certificates and
    labels use), ÷ total energy.
  * Stages (Annex II): raw material acquisition and pre-processing ←
    ``lifeCycleStages.rawMaterialAcquisition``; main product production ←
    ``lifeCycleStages.mainProduction``; distribution ← ``lifeCycleStages.distribution``,
    else ``pcf.outboundLogisticsGhgEmissions``; end of life and recycling ←
    ``lifeCycleStages.endOfLife``. The use stage is excluded by the rule. The four stages
    must add up to the total; when they do not, that is reported as missing (inconsistent)
    data rather than a declaration that contradicts its own record.
  * Also reported per kWh of rated capacity (the figure many buyers quote), and the
    record's context: manufacturer (``companyName``, ``companyIds``), model
    (``productNameCompany``, ``productIds``), place of manufacture (``pcf.geography*``),
    reference period, standards, IPCC characterisation factors, primary data share, DQIs and
    third-party verification when stated.

CBAM embedded emissions
  * Mass of the declared quantity, in tonnes: ``declaredUnitAmount`` ÷ 1000 when the unit is
    ``kilogram``; otherwise ``pcf.productMassPerDeclaredUnit`` ÷ 1000 (PACT: the mass in kg
    of the declared quantity, excluding packaging), which must be above zero.
  * Specific direct embedded emissions (t CO2e / t) = ``embeddedEmissions.direct`` (kg) ÷
    mass (kg); specific indirect = ``embeddedEmissions.indirect`` ÷ mass; their sum is the
    specific total. kg/kg equals t/t, so no factor of 1000 enters.
  * Each with its data source: ``actual`` (monitored at the installation) or ``default``
    (the Commission's default values). Production route, CN code, installation (name,
    country, identifier, UN/LOCODE) and reporting period (``pcf.referencePeriodStart/End``)
    are copied.

Numbers are exact decimals; a quotient that does not end is rounded half-even to 12
decimal places (the database scale) and written without trailing zeros.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy.orm import Session

from exchange.errors import ValidationFailed
from exchange.footprints.models import FootprintRecord
from exchange.keyring import ExchangeKey
from exchange.log import services as log
from exchange.log.schemas import b64
from exchange.quantities import rounded_text

TRADE_EXTENSION_PATH: Final = "/api/v1/trade/extensions/trade-data/1.0.0/schema.json"

BATTERY_RULE: Final = "eu-battery-regulation-2023-1542"
CBAM_RULE: Final = "eu-cbam-2023-956"
FUNCTIONAL_UNIT: Final = "1 kWh of the total energy provided by the battery over its service life"

# Annex II stages, in order: (extension member and declaration key, English, Chinese).
BATTERY_STAGES: Final = (
    ("rawMaterialAcquisition", "raw material acquisition and pre-processing", "原材料获取和预处理"),
    ("mainProduction", "main product production", "主要产品生产"),
    ("distribution", "distribution", "分销"),
    ("endOfLife", "end of life and recycling", "寿命终止和回收"),
)
DATA_SOURCES: Final = ("actual", "default")


class MissingData(ValidationFailed):
    """The record lacks what the rule needs; ``details`` names each field and why."""

    status = 422
    code = "MissingData"

    def __init__(self, rule: str, record_id: str, missing: list[dict[str, str]]) -> None:
        super().__init__(
            f"footprint {record_id} lacks data the {rule} export needs", details=missing
        )
        self.rule = rule
        self.record_id = record_id


# --- the trade-data extension -------------------------------------------------------------


def trade_extension(footprint: Mapping[str, Any]) -> dict[str, Any]:
    """The data of the record's trade-data extension (empty when it carries none)."""
    for extension in footprint.get("extensions") or ():
        if isinstance(extension, dict) and str(extension.get("dataSchema", "")).endswith(
            TRADE_EXTENSION_PATH
        ):
            data = extension.get("data")
            return data if isinstance(data, dict) else {}
    return {}


class _Reader:
    """Reads decimals out of the footprint and its extension, noting each one missing."""

    def __init__(self, footprint: Mapping[str, Any]) -> None:
        self.pcf: Mapping[str, Any] = footprint.get("pcf") or {}
        self.extension = trade_extension(footprint)
        self.missing: list[dict[str, str]] = []

    def note(self, field: str, message: str) -> None:
        self.missing.append({"field": field, "message": message})

    def section(self, name: str) -> Mapping[str, Any]:
        value = self.extension.get(name)
        return value if isinstance(value, dict) else {}

    def decimal(
        self, source: Mapping[str, Any], name: str, field: str, *, positive: bool = False
    ) -> Decimal | None:
        raw = source.get(name)
        if raw is None:
            self.note(field, "required")
            return None
        try:
            if not isinstance(raw, str):
                raise InvalidOperation
            value = Decimal(raw)
            if not value.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            self.note(field, "a decimal number as a string")
            return None
        if positive and value <= 0:
            self.note(field, "must be greater than zero")
            return None
        return value

    def optional_decimal(self, source: Mapping[str, Any], name: str, field: str) -> Decimal | None:
        return None if source.get(name) is None else self.decimal(source, name, field)

    def choice(
        self, source: Mapping[str, Any], name: str, field: str, allowed: tuple[str, ...]
    ) -> str | None:
        value = source.get(name)
        if not isinstance(value, str) or value not in allowed:
            self.note(field, f"one of {', '.join(allowed)}")
            return None
        return value

    def string(self, source: Mapping[str, Any], name: str, field: str) -> str | None:
        value = source.get(name)
        if not isinstance(value, str) or not value.strip():
            self.note(field, "required")
            return None
        return value.strip()


def lifecycle_stages(footprint: Mapping[str, Any]) -> dict[str, Decimal] | None:
    """The record's four Annex II stages (kg CO2e of the declared quantity), or None when any
    is missing; distribution falls back on ``outboundLogisticsGhgEmissions``."""
    reader = _Reader(footprint)
    stages = _stages(reader)
    return None if reader.missing else stages


def _stages(reader: _Reader) -> dict[str, Decimal]:
    given = reader.section("lifeCycleStages")
    stages: dict[str, Decimal] = {}
    for key, _english, _chinese in BATTERY_STAGES:
        field = f"extensions[trade-data].lifeCycleStages.{key}"
        if key == "distribution" and given.get(key) is None:
            if reader.pcf.get("outboundLogisticsGhgEmissions") is not None:
                value = reader.decimal(
                    reader.pcf, "outboundLogisticsGhgEmissions", "pcf.outboundLogisticsGhgEmissions"
                )
            else:
                reader.note(f"{field} (or pcf.outboundLogisticsGhgEmissions)", "required")
                value = None
        else:
            value = reader.decimal(given, key, field)
        if value is not None:
            stages[key] = value
    return stages


# --- citing the record ---------------------------------------------------------------------


def citation(
    session: Session, record: FootprintRecord, *, key: ExchangeKey, origin: str
) -> dict[str, Any]:
    """The record as an export cites it: signature, log index and an inclusion proof against
    the exchange's signed checkpoint of the log's current size."""
    checkpoint = log.ensure_checkpoint(session, key, origin)
    proof = log.inclusion_proof(session, record.log_index, checkpoint.tree_size)
    return {
        "recordId": record.id,
        "owner": record.owner_id,
        "status": record.status.value,
        "signed": record.signed,
        "signerKid": record.signature_kid,
        "signature": record.signature,
        "log": {
            "index": record.log_index,
            "treeSize": proof.size,
            "leafHash": b64(proof.leaf_hash),
            "rootHash": b64(proof.root_hash),
            "inclusionProof": [b64(value) for value in proof.proof],
            "proofUrl": f"/api/v1/log/proof/inclusion?index={proof.index}&size={proof.size}",
            "checkpointUrl": f"/api/v1/log/checkpoint?size={proof.size}",
            "checkpoint": checkpoint.note,
        },
    }


# --- battery declaration -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Export:
    """An export's document; ``record`` is kept for the page's heading."""

    rule: str
    document: dict[str, Any]


def _require_signature(reader: _Reader, record: FootprintRecord) -> None:
    if not record.signed:
        reader.note(
            "signature",
            "the record was imported unsigned; an export must cite its owner's signature",
        )


def _geography(pcf: Mapping[str, Any]) -> str | None:
    for name in ("geographyCountrySubdivision", "geographyCountry", "geographyRegionOrSubregion"):
        if isinstance(pcf.get(name), str):
            return str(pcf[name])
    return None


def _context(footprint: Mapping[str, Any]) -> dict[str, Any]:
    pcf: Mapping[str, Any] = footprint.get("pcf") or {}
    return {
        "manufacturer": {
            "name": footprint.get("companyName"),
            "companyIds": footprint.get("companyIds", []),
        },
        "product": {
            "name": footprint.get("productNameCompany"),
            "description": footprint.get("productDescription"),
            "productIds": footprint.get("productIds", []),
            "classifications": footprint.get("productClassifications", []),
        },
        "placeOfManufacture": _geography(pcf),
        "referencePeriod": {
            "start": pcf.get("referencePeriodStart"),
            "end": pcf.get("referencePeriodEnd"),
        },
    }


def battery_declaration(
    session: Session, record: FootprintRecord, *, key: ExchangeKey, origin: str
) -> Export:
    """The EU Battery Regulation carbon-footprint declaration of a record, or MissingData."""
    footprint: dict[str, Any] = json.loads(record.footprint_json)
    reader = _Reader(footprint)
    pcf = reader.pcf
    _require_signature(reader, record)
    total = reader.decimal(pcf, "pcfIncludingBiogenicUptake", "pcf.pcfIncludingBiogenicUptake")
    amount = reader.decimal(pcf, "declaredUnitAmount", "pcf.declaredUnitAmount", positive=True)
    unit = pcf.get("declaredUnitOfMeasurement")
    battery = reader.section("battery")
    capacity_field = "extensions[trade-data].battery.ratedEnergyCapacityKWh"
    if unit == "kilowatt hour":
        per_unit: Decimal | None = Decimal(1)
        capacity_source = "declaredUnitOfMeasurement is kilowatt hour: the declared quantity"
    else:
        per_unit = reader.decimal(battery, "ratedEnergyCapacityKWh", capacity_field, positive=True)
        if per_unit is None:
            reader.missing[-1]["message"] += (
                f" (the declared unit is {unit!r}, which does not convert to kWh by itself)"
            )
        capacity_source = f"{capacity_field} x pcf.declaredUnitAmount"
    cycles = reader.decimal(
        battery,
        "expectedLifetimeCycles",
        "extensions[trade-data].battery.expectedLifetimeCycles",
        positive=True,
    )
    stages = _stages(reader)
    if not reader.missing:
        assert total is not None
        stage_sum = sum(stages.values(), Decimal(0))
        if stage_sum != total:
            reader.note(
                "extensions[trade-data].lifeCycleStages",
                f"the stages add up to {rounded_text(stage_sum)} kg CO2e, but the record's "
                f"pcfIncludingBiogenicUptake is {rounded_text(total)}",
            )
    if reader.missing:
        raise MissingData(BATTERY_RULE, record.id, reader.missing)
    assert total is not None and amount is not None and per_unit is not None
    assert cycles is not None
    capacity = amount * per_unit
    energy = capacity * cycles
    document = {
        "rule": BATTERY_RULE,
        "title": "Battery carbon footprint declaration / 电池碳足迹声明",
        "functionalUnit": FUNCTIONAL_UNIT,
        "unit": "kg CO2e/kWh",
        **_context(footprint),
        "basis": {
            "declaredUnitOfMeasurement": unit,
            "declaredUnitAmount": rounded_text(amount),
            "ratedEnergyCapacityKWh": rounded_text(capacity),
            "ratedEnergyCapacitySource": capacity_source,
            "expectedLifetimeCycles": rounded_text(cycles),
            "totalEnergyKWh": rounded_text(energy),
            "pcfIncludingBiogenicUptake": rounded_text(total),
        },
        "carbonFootprint": rounded_text(total / energy),
        "carbonFootprintPerKWhRatedCapacity": rounded_text(total / capacity),
        "stages": [
            {
                "stage": stage_key,
                "name": english,
                "nameZh": chinese,
                "emissions": rounded_text(stages[stage_key]),
                "perFunctionalUnit": rounded_text(stages[stage_key] / energy),
                "sharePercent": rounded_text(stages[stage_key] * 100 / total) if total else None,
            }
            for stage_key, english, chinese in BATTERY_STAGES
        ],
        "excludedStages": ["use"],
        "methodology": {
            "crossSectoralStandards": pcf.get("crossSectoralStandards", []),
            "productOrSectorSpecificRules": pcf.get("productOrSectorSpecificRules", []),
            "ipccCharacterizationFactors": pcf.get("ipccCharacterizationFactors", []),
            "primaryDataShare": pcf.get("primaryDataShare"),
            "dqi": pcf.get("dqi"),
            "verification": pcf.get("verification"),
        },
        "source": citation(session, record, key=key, origin=origin),
    }
    return Export(rule=BATTERY_RULE, document=document)


# --- CBAM embedded emissions ---------------------------------------------------------------


def cbam_report(
    session: Session, record: FootprintRecord, *, key: ExchangeKey, origin: str
) -> Export:
    """The CBAM embedded-emissions report of a record, or MissingData."""
    footprint: dict[str, Any] = json.loads(record.footprint_json)
    reader = _Reader(footprint)
    pcf = reader.pcf
    _require_signature(reader, record)
    unit = pcf.get("declaredUnitOfMeasurement")
    if unit == "kilogram":
        mass_kg = reader.decimal(pcf, "declaredUnitAmount", "pcf.declaredUnitAmount", positive=True)
        mass_source = "pcf.declaredUnitAmount (declared in kilogram)"
    else:
        mass_kg = reader.decimal(
            pcf, "productMassPerDeclaredUnit", "pcf.productMassPerDeclaredUnit", positive=True
        )
        if mass_kg is None:
            reader.missing[-1]["message"] += (
                f" (the declared unit is {unit!r}: the mass of the declared quantity converts "
                "it to tonnes)"
            )
        mass_source = "pcf.productMassPerDeclaredUnit"
    given = reader.section("embeddedEmissions")
    prefix = "extensions[trade-data].embeddedEmissions"
    direct = reader.decimal(given, "direct", f"{prefix}.direct")
    indirect = reader.decimal(given, "indirect", f"{prefix}.indirect")
    direct_source = reader.choice(given, "directSource", f"{prefix}.directSource", DATA_SOURCES)
    indirect_source = reader.choice(
        given, "indirectSource", f"{prefix}.indirectSource", DATA_SOURCES
    )
    route = reader.string(given, "productionRoute", f"{prefix}.productionRoute")
    cn_code = reader.string(given, "cnCode", f"{prefix}.cnCode")
    installation_given = given.get("installation")
    installation: Mapping[str, Any] = (
        installation_given if isinstance(installation_given, dict) else {}
    )
    installation_name = reader.string(installation, "name", f"{prefix}.installation.name")
    installation_country = reader.string(installation, "country", f"{prefix}.installation.country")
    if reader.missing:
        raise MissingData(CBAM_RULE, record.id, reader.missing)
    assert mass_kg is not None and direct is not None and indirect is not None
    tonnes = mass_kg / 1000
    document = {
        "rule": CBAM_RULE,
        "title": "Embedded emissions report (CBAM) / 内含排放报告",
        "unit": "t CO2e/t",
        **_context(footprint),
        "goods": {
            "cnCode": cn_code,
            "name": footprint.get("productNameCompany"),
            "productIds": footprint.get("productIds", []),
            "declaredUnitOfMeasurement": unit,
            "declaredUnitAmount": pcf.get("declaredUnitAmount"),
            "massTonnes": rounded_text(tonnes),
            "massSource": mass_source,
        },
        "installation": {
            "name": installation_name,
            "country": installation_country,
            "identifier": installation.get("identifier"),
            "unLocode": installation.get("unLocode"),
        },
        "productionRoute": route,
        "reportingPeriod": {
            "start": pcf.get("referencePeriodStart"),
            "end": pcf.get("referencePeriodEnd"),
        },
        "embeddedEmissions": {
            "directTonnes": rounded_text(direct / 1000),
            "indirectTonnes": rounded_text(indirect / 1000),
        },
        "specificEmbeddedEmissions": {
            "direct": {"value": rounded_text(direct / mass_kg), "source": direct_source},
            "indirect": {
                "value": rounded_text(indirect / mass_kg),
                "source": indirect_source,
            },
            "total": rounded_text((direct + indirect) / mass_kg),
        },
        "source": citation(session, record, key=key, origin=origin),
    }
    return Export(rule=CBAM_RULE, document=document)


def trade_extension_schema(base_url: str) -> dict[str, Any]:
    """The JSON Schema that ``dataSchema`` of the trade-data extension names."""
    amount = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": base_url + TRADE_EXTENSION_PATH,
        "title": "Footprint Exchange trade data",
        "description": (
            "What export rules need beyond PACT v3: life-cycle stages, battery capacity and "
            "service life, and CBAM direct/indirect embedded emissions. Amounts are kg CO2e "
            "of the footprint's declared quantity (declaredUnitAmount x "
            "declaredUnitOfMeasurement), as decimal strings."
        ),
        "type": "object",
        "properties": {
            "lifeCycleStages": {
                "type": "object",
                "properties": {name: amount for name, _e, _z in BATTERY_STAGES},
                "additionalProperties": False,
            },
            "battery": {
                "type": "object",
                "properties": {
                    "ratedEnergyCapacityKWh": amount,
                    "expectedLifetimeCycles": amount,
                },
            },
            "embeddedEmissions": {
                "type": "object",
                "properties": {
                    "direct": amount,
                    "indirect": amount,
                    "directSource": {"enum": list(DATA_SOURCES)},
                    "indirectSource": {"enum": list(DATA_SOURCES)},
                    "productionRoute": {"type": "string"},
                    "cnCode": {"type": "string", "pattern": "^[0-9]{4,10}$"},
                    "installation": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                            "identifier": {"type": "string"},
                            "unLocode": {"type": "string"},
                        },
                    },
                },
            },
        },
    }

"""Importing a published dataset in its own layout through a mapping file: the shipped
grid-announcement mapping and sample, uploads over the API, and bad mappings that say what is
wrong and store nothing."""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.db import transaction
from exchange.errors import ValidationFailed
from exchange.factors import mapping
from exchange.factors.models import Factor
from exchange.organisations.models import Role
from tests.factories import Member, add_member, json_of

SHIPPED = resources.files("exchange.factors") / "data" / "mappings"
SAMPLE = (SHIPPED / "mee-grid-announcement.sample.csv").read_bytes()

# A layout of another publisher: a unit column, its own area codes, kg per tonne.
PACKAGING_MAPPING = """
format = "csv"
[columns]
"Item" = "name"
"Area" = "region"
"Factor" = "value"
"Per" = "unit"
"Year" = "year"
[units]
"kgCO2e/t" = { unit = "kg", multiply = "0.001" }
"kgCO2e/kg" = "kg"
[regions]
"HN" = "CN-HI"
"CHN" = "CN"
[constants]
kind = "activity"
category = "material"
gwpSet = "AR6"
scope = "life-cycle"
source = "Example publisher, packaging table"
licence = "CC BY 4.0"
[templates]
code = "example.packaging.{Item|lower}.{region|lower}.{year}"
"""

PACKAGING_CSV = """Item,Area,Factor,Per,Year
Carton,HN,1199.7,kgCO2e/t,2024
Bottle,CHN,3.86,kgCO2e/kg,2024
Crate,HN,2.5,furlongs,2024
Foil,XX,9.1,kgCO2e/kg,2024
"""


@pytest.fixture
def regulator(app: Flask) -> Member:
    return add_member(app, Role.REGULATOR)


def stored(app: Flask) -> list[tuple[str, int, str, str]]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        return [
            (f.code, f.version, str(f.value.normalize()), f.unit)
            for f in session.scalars(sa.select(Factor).order_by(Factor.code, Factor.version))
        ]


def test_the_shipped_mapping_loads_the_announcement_sample_by_cli_and_again_changes_nothing(
    app: Flask, tmp_path: Path
) -> None:
    assert "mee-grid-announcement" in mapping.shipped_names()
    sample = tmp_path / "announcement-2023.csv"
    sample.write_bytes(SAMPLE)
    runner = app.test_cli_runner()
    args = ["factors", "import", str(sample), "--mapping", "mee-grid-announcement"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    assert "3 created, 0 unchanged, 0 rejected" in first.output
    assert stored(app) == [
        ("cn.electricity.hainan.2023", 1, "0.3648", "kWh"),
        ("cn.electricity.national.2023", 1, "0.5306", "kWh"),
        ("cn.electricity.southern.2023", 1, "0.4042", "kWh"),
    ]
    assert "0 created, 3 unchanged, 0 rejected" in runner.invoke(args=args).output

    # The same mapping as a file of the regulator's own works the same way.
    own = tmp_path / "grid.toml"
    own.write_text((SHIPPED / "mee-grid-announcement.toml").read_text("utf-8"), "utf-8")
    again = runner.invoke(args=["factors", "import", str(sample), "--mapping", str(own)])
    assert "0 created, 3 unchanged, 0 rejected" in again.output
    assert runner.invoke(args=["audit"]).exit_code == 0


def test_the_mapped_rows_equal_the_starter_figures(app: Flask, client: FlaskClient) -> None:
    with transaction(app.extensions["exchange.sessions"]) as session:
        report = mapping.import_mapped(session, SAMPLE, mapping.shipped("mee-grid-announcement"))
    # Row numbers as the file shows them: a title line, the header, then the areas.
    assert [(row.row, row.status) for row in report.rows] == [
        (3, "created"),
        (4, "created"),
        (5, "created"),
    ]
    hainan = json_of(client.get("/api/v1/factors?code=cn.electricity.hainan.2023"))["data"][0]
    assert (hainan["region"], hainan["year"], hainan["gwpSet"]) == ("CN-HI", 2023, "AR6")
    assert hainan["name"] == (
        "Electricity, Hainan provincial grid, 2023: CO2 from generation (not life-cycle)"
    )
    assert hainan["gases"] == {"CO2": "0.3648"}
    assert "announcement of the 2023 electricity CO2 emission factors" in hainan["source"]
    assert "海南" in hainan["source"]


def test_an_upload_with_its_mapping_reports_each_row(
    client: FlaskClient, app: Flask, regulator: Member
) -> None:
    response = client.post(
        "/api/v1/factors/import",
        data={
            "file": (io.BytesIO(PACKAGING_CSV.encode()), "packaging.csv"),
            "mapping": (io.BytesIO(PACKAGING_MAPPING.encode()), "packaging.toml"),
        },
        headers=regulator.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 207, json_of(response)
    report = json_of(response)
    assert (report["created"], report["unchanged"], report["rejected"]) == (2, 0, 2)
    rows = {row["row"]: row for row in report["rows"]}
    assert rows[2] == {
        "row": 2,
        "status": "created",
        "code": "example.packaging.carton.cn-hi.2024",
        "version": 1,
    }
    # The unknown unit and the unknown area are each the row's own error, named by field.
    assert [e["field"] for e in rows[4]["errors"]] == ["unit"]
    assert "'furlongs'" in rows[4]["errors"][0]["message"]
    assert "column 'Per'" in rows[4]["errors"][0]["message"]
    assert [e["field"] for e in rows[5]["errors"]] == ["region"]
    assert "'XX'" in rows[5]["errors"][0]["message"]
    # kg CO2e per tonne, multiplied exactly into kg CO2e per kg.
    assert stored(app) == [
        ("example.packaging.bottle.cn.2024", 1, "3.86", "kg"),
        ("example.packaging.carton.cn-hi.2024", 1, "1.1997", "kg"),
    ]


def test_a_shipped_mapping_by_name_takes_the_file_as_the_body(
    client: FlaskClient, app: Flask, regulator: Member
) -> None:
    response = client.post(
        "/api/v1/factors/import?mapping=mee-grid-announcement",
        data=SAMPLE,
        headers={**regulator.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, json_of(response)
    assert json_of(response)["created"] == 3
    unknown = client.post(
        "/api/v1/factors/import?mapping=no-such-mapping",
        data=SAMPLE,
        headers={**regulator.headers, "Content-Type": "text/csv"},
    )
    assert unknown.status_code == 400
    assert "mee-grid-announcement" in json_of(unknown)["message"]


def test_a_mapping_naming_a_column_the_file_lacks_refuses_the_file_and_stores_nothing(
    client: FlaskClient, app: Flask, regulator: Member, tmp_path: Path
) -> None:
    wrong = PACKAGING_MAPPING.replace('"Factor" = "value"', '"Emission factor" = "value"')
    response = client.post(
        "/api/v1/factors/import",
        data={
            "file": (io.BytesIO(PACKAGING_CSV.encode()), "packaging.csv"),
            "mapping": (io.BytesIO(wrong.encode()), "packaging.toml"),
        },
        headers=regulator.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    body = json_of(response)
    assert "no column 'Emission factor'" in body["message"]
    assert "'Factor'" in body["message"]  # the columns the file does have
    assert body["details"] == [
        {"field": "columns.Emission factor", "message": "the file has no column 'Emission factor'"}
    ]
    assert stored(app) == []

    mapping_file = tmp_path / "wrong.toml"
    mapping_file.write_text(wrong, "utf-8")
    data = tmp_path / "packaging.csv"
    data.write_text(PACKAGING_CSV, "utf-8")
    result = app.test_cli_runner().invoke(
        args=["factors", "import", str(data), "--mapping", str(mapping_file)]
    )
    assert result.exit_code == 1
    assert "no column 'Emission factor'" in result.output
    assert stored(app) == []


def test_rows_whose_unit_or_region_the_mapping_lacks_are_refused_and_nothing_changes(
    app: Flask, tmp_path: Path
) -> None:
    bad = "Item,Area,Factor,Per,Year\nCrate,HN,2.5,furlongs,2024\nFoil,XX,9.1,kgCO2e/kg,2024\n"
    data = tmp_path / "bad.csv"
    data.write_text(bad, "utf-8")
    mapping_file = tmp_path / "packaging.toml"
    mapping_file.write_text(PACKAGING_MAPPING, "utf-8")
    result = app.test_cli_runner().invoke(
        args=["factors", "import", str(data), "--mapping", str(mapping_file)]
    )
    assert result.exit_code == 1
    assert "0 created, 0 unchanged, 2 rejected" in result.output
    assert "row 2 (?) unit: unit 'furlongs' (column 'Per')" in result.output
    assert "row 3 (?) region: region 'XX' (column 'Area')" in result.output
    assert stored(app) == []


def problems(text: str) -> list[dict[str, str]]:
    with pytest.raises(ValidationFailed) as refused:
        mapping.parse_mapping(text)
    assert refused.value.message.startswith("the mapping is not valid")
    return refused.value.details


def test_a_bad_mapping_names_every_problem() -> None:
    found = problems(
        "sheet = 2\n"
        + PACKAGING_MAPPING.replace('"Year" = "year"', '"Year" = "yeer"')
        .replace('"kgCO2e/kg" = "kg"', '"kgCO2e/kg" = "furlong"')
        .replace('scope = "life-cycle"', "scope = 0.5")
        .replace("{Item|lower}", "{Item|slug}")
    )
    assert {(p["field"], p["message"].split(" ")[0]) for p in found} >= {
        ("columns.Year", "unknown"),
        ("units.kgCO2e/kg", "unknown"),
        ("constants.scope", "a"),
        ("templates.code", "unknown"),
        ("sheet", "unknown"),
        ("year", "not"),
        ("scope", "not"),
    }
    assert any("furlong" in p["message"] for p in found)
    twice = problems(
        PACKAGING_MAPPING.replace('kind = "activity"', 'kind = "activity"\nyear = 2024')
    )
    assert twice == [
        {"field": "year", "message": "given twice (two columns, or a column and a constant)"}
    ]
    assert problems("format = 3\n")[0] == {"field": "format", "message": "csv or json"}
    with pytest.raises(ValidationFailed, match="not valid TOML"):
        mapping.parse_mapping('format = "csv"\n[columns\n')


def test_a_template_must_name_a_field_or_a_column_of_the_file(app: Flask) -> None:
    typo = mapping.parse_mapping(PACKAGING_MAPPING.replace("{Item|lower}", "{Itme|lower}"))
    with (
        transaction(app.extensions["exchange.sessions"]) as session,
        pytest.raises(ValidationFailed, match=r"\{Itme\} is neither a field"),
    ):
        mapping.import_mapped(session, PACKAGING_CSV, typo)
    assert stored(app) == []


def test_json_layouts_other_encodings_and_spreadsheet_numbers(app: Flask) -> None:
    document = json.dumps(
        {
            "meta": {"edition": 2024},
            "rows": [
                {"Item": "Tray", "Area": "HN", "Factor": 1.5e-3, "Per": "kgCO2e/kg", "Year": 2024},
                {"Item": "Lid", "Area": "HN", "Factor": "2.0E-2", "Per": "kgCO2e/kg", "Year": 2024},
            ],
        }
    )
    as_json = mapping.parse_mapping(
        json.dumps(
            {
                **{"format": "json", "records": "rows"},
                "columns": {
                    "Item": "name",
                    "Area": "region",
                    "Factor": "value",
                    "Per": "unit",
                    "Year": "year",
                },
                "units": {"kgCO2e/kg": "kg"},
                "regions": {"HN": "CN-HI"},
                "constants": {
                    "kind": "activity",
                    "category": "material",
                    "gwpSet": "AR6",
                    "scope": "life-cycle",
                    "source": "Example publisher",
                    "licence": "CC0",
                },
                "templates": {"code": "example.{Item|lower}.{year}"},
            }
        )
    )
    gbk = mapping.parse_mapping(
        PACKAGING_MAPPING.replace('format = "csv"', 'format = "csv"\nencoding = "gbk"')
        .replace('"Item" = "name"', '"品名" = "name"')
        .replace("{Item|lower}", "{region|lower}")
    )
    chinese = "品名,Area,Factor,Per,Year\n纸箱,HN,1199.7,kgCO2e/t,2024\n".encode("gbk")
    with transaction(app.extensions["exchange.sessions"]) as session:
        first = mapping.import_mapped(session, document, as_json)
        second = mapping.import_mapped(session, chinese, gbk)
    assert [(r.row, r.status) for r in first.rows] == [(1, "created"), (2, "created")]
    assert [(r.row, r.status) for r in second.rows] == [(2, "created")]
    assert stored(app) == [
        ("example.lid.2024", 1, "0.02", "kg"),
        ("example.packaging.cn-hi.cn-hi.2024", 1, "1.1997", "kg"),
        ("example.tray.2024", 1, "0.0015", "kg"),
    ]
    with (
        transaction(app.extensions["exchange.sessions"]) as session,
        pytest.raises(ValidationFailed, match="not utf-8"),
    ):
        utf8 = mapping.parse_mapping(PACKAGING_MAPPING.replace('"Item"', '"品名"'))
        mapping.import_mapped(session, chinese, utf8)


def test_a_multipart_import_needs_its_file_and_a_mapping(
    client: FlaskClient, regulator: Member
) -> None:
    def post(**parts: Any) -> Any:
        return client.post(
            "/api/v1/factors/import",
            data=parts,
            headers=regulator.headers,
            content_type="multipart/form-data",
        )

    no_file = post(mapping=(io.BytesIO(PACKAGING_MAPPING.encode()), "m.toml"))
    assert no_file.status_code == 400
    assert "'file'" in json_of(no_file)["message"]
    no_mapping = post(file=(io.BytesIO(PACKAGING_CSV.encode()), "p.csv"))
    assert no_mapping.status_code == 400
    assert "mapping" in json_of(no_mapping)["message"]
    as_field = post(file=(io.BytesIO(PACKAGING_CSV.encode()), "p.csv"), mapping=PACKAGING_MAPPING)
    assert as_field.status_code == 207


def test_what_no_database_text_can_hold_is_refused_up_front(app: Flask) -> None:
    assert problems(PACKAGING_MAPPING.replace('format = "csv"', 'encoding = "base64"')) == [
        {"field": "encoding", "message": "unknown text encoding 'base64'"}
    ]
    nul = json.dumps({"constants": {"source": "a\u0000b"}})
    assert {"field": "", "message": "a text holds a NUL character"} in problems(nul)
    packaging = mapping.parse_mapping(PACKAGING_MAPPING)
    as_json = mapping.parse_mapping('format = "json"\n' + PACKAGING_MAPPING.split("\n", 2)[2])
    with transaction(app.extensions["exchange.sessions"]) as session:
        for data, which in (
            (PACKAGING_CSV.replace("Carton", "Car\x00ton"), packaging),
            ('[{"Item": "Car\\u0000ton"}]', as_json),
        ):
            with pytest.raises(ValidationFailed, match="NUL"):
                mapping.import_mapped(session, data, which)
    assert stored(app) == []

"""Label QR symbols read back by a real decoder (zbar) to the exact URL; their versions."""

from __future__ import annotations

import io
import re

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pyzbar import pyzbar

from exchange.labels import qr
from tests.labels.builders import programme
from tests.labels.test_claims import KNOWN_URL


def decoded(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png))
    return [symbol.data.decode("ascii") for symbol in pyzbar.decode(image)]


def test_the_known_label_decodes_to_its_exact_url() -> None:
    art = qr.LabelArt(url=KNOWN_URL, value="-9.22", unit="kilogram", grade=2)
    assert decoded(qr.png(art)) == [KNOWN_URL]
    assert qr.symbol(KNOWN_URL).version == 8
    assert qr.symbol(KNOWN_URL).size == 49  # 17 + 4 * version


def test_issued_labels_decode_exactly(app: Flask, client: FlaskClient) -> None:
    fx = programme(app, client)
    fx.accredit()
    fx.scheme()
    number = fx.certify()["number"]
    for lot in (None, "LOT2026A", "B-20261126-0007", "lower/case&more"):
        label = fx.label(number, lot=lot)
        png = client.get(f"/api/v1/labels/{label['id']}.png").data
        assert decoded(png) == [label["url"]]
        version = qr.symbol(label["url"]).version
        assert label["qrVersion"] == version
        assert version <= 9, (lot, version)
        if lot is None or lot.isupper():
            assert version <= 8, (lot, version)
        svg = client.get(f"/api/v1/labels/{label['id']}.svg").get_data(as_text=True)
        assert re.search(rf'data-qr-version="{version}"', svg)


def test_svg_modules_match_the_symbol() -> None:
    art = qr.LabelArt(url=KNOWN_URL, value="-9.22", unit="kilogram", grade=None)
    svg = qr.svg(art)
    dark = sum(row.count(True) for row in qr.symbol(KNOWN_URL).modules)
    assert svg.count("h4v4h-4z") == dark
    assert "等级 Grade" in svg and ">—<" in svg

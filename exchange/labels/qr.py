"""QR symbols of label URLs and the printed label around them (SVG and PNG). Pure.

The ``qrcode`` package encodes (error correction M, segments chosen so the upper-case URL
stays alphanumeric and the data digits numeric); the drawing is ours, so the SVG is a
small self-contained document and the PNG is drawn with Pillow. The PNG prints Chinese
with WenQuanYi Zen Hei (Debian ``fonts-wqy-zenhei``, which the Makefile installs); where
that font is missing it falls back to Pillow's built-in font and English text only. The
SVG names the fonts and leaves drawing the text to the viewer.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

MAX_VERSION: Final = 9
QUIET_ZONE: Final = 4
PROGRAMME_ZH: Final = "海南省产品碳足迹标识"
PROGRAMME_EN: Final = "Hainan Product Carbon Footprint Label"
GRADE_COLOURS: Final = {1: "#1a7f37", 2: "#4c9a2a", 3: "#b08800", 4: "#d1600b", 5: "#b42318"}
CJK_FONTS: Final = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)
_UNIT_SHORT: Final = {
    "liter": "L",
    "kilogram": "kg",
    "cubic meter": "m³",
    "kilowatt hour": "kWh",
    "megajoule": "MJ",
    "ton kilometer": "t·km",
    "square meter": "m²",
    "piece": "piece",
    "hour": "h",
    "megabit second": "Mbit·s",
}


class QRTooLarge(ValueError):
    """The data needs a larger QR symbol than a label may have."""


@dataclasses.dataclass(frozen=True, slots=True)
class Symbol:
    version: int
    modules: list[list[bool]]  # without the quiet zone

    @property
    def size(self) -> int:
        return len(self.modules)


def symbol(text: str, *, max_version: int = MAX_VERSION) -> Symbol:
    """The smallest QR symbol at error correction M holding ``text``."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text, optimize=4)
    code.make(fit=True)
    version = int(code.version)
    if version > max_version:
        raise QRTooLarge(f"the label needs QR version {version}, more than {max_version}")
    matrix = code.get_matrix()
    return Symbol(version=version, modules=[[bool(cell) for cell in row] for row in matrix])


@dataclasses.dataclass(frozen=True, slots=True)
class LabelArt:
    """What is printed beside the QR."""

    url: str
    value: str
    unit: str
    grade: int | None

    @property
    def value_line(self) -> str:
        return f"{self.value} kg CO₂e / {_UNIT_SHORT.get(self.unit, self.unit)}"

    @property
    def grade_line(self) -> str:
        return "—" if self.grade is None else str(self.grade)


def _grade_colour(grade: int | None) -> str:
    return "#57606a" if grade is None else GRADE_COLOURS.get(grade, "#57606a")


def svg(art: LabelArt, *, module: int = 4) -> str:
    """A print-ready SVG label: QR, value and unit, grade badge, programme name zh + en."""
    code = symbol(art.url)
    side = (code.size + 2 * QUIET_ZONE) * module
    width, height = side + 260, max(side, 200)
    path = "".join(
        f"M{(x + QUIET_ZONE) * module} {(y + QUIET_ZONE) * module}h{module}v{module}h-{module}z"
        for y, row in enumerate(code.modules)
        for x, dark in enumerate(row)
        if dark
    )
    text_x = side + 10
    font = "'Noto Sans CJK SC','WenQuanYi Zen Hei','PingFang SC','Microsoft YaHei',sans-serif"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{escape(font)}">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<path d="{path}" fill="#000"/>'
        f'<text x="{text_x}" y="30" font-size="16" font-weight="bold">{PROGRAMME_ZH}</text>'
        f'<text x="{text_x}" y="50" font-size="11">{escape(PROGRAMME_EN)}</text>'
        f'<text x="{text_x}" y="95" font-size="20" font-weight="bold">'
        f"{escape(art.value_line)}</text>"
        f'<rect x="{text_x}" y="115" width="120" height="44" rx="8" '
        f'fill="{_grade_colour(art.grade)}"/>'
        f'<text x="{text_x + 60}" y="135" font-size="12" fill="#fff" text-anchor="middle">'
        f"等级 Grade</text>"
        f'<text x="{text_x + 60}" y="155" font-size="18" font-weight="bold" fill="#fff" '
        f'text-anchor="middle">{escape(art.grade_line)}</text>'
        f'<desc data-qr-version="{code.version}">{escape(art.url)}</desc>'
        "</svg>"
    )


def cjk_font_path() -> Path | None:
    return next((path for path in CJK_FONTS if path.is_file()), None)


def png(art: LabelArt, *, module: int = 8) -> bytes:
    """A print-ready PNG label (300 dpi at the default module size of 8 pixels)."""
    code = symbol(art.url)
    side = (code.size + 2 * QUIET_ZONE) * module
    width, height = side + 560, max(side, 420)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(code.modules):
        for x, dark in enumerate(row):
            if dark:
                left, top = (x + QUIET_ZONE) * module, (y + QUIET_ZONE) * module
                draw.rectangle((left, top, left + module - 1, top + module - 1), fill="black")
    font_path = cjk_font_path()

    def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        if font_path is not None:
            return ImageFont.truetype(str(font_path), size)
        return ImageFont.load_default(size)

    text_x = side + 20
    if font_path is not None:
        draw.text((text_x, 40), PROGRAMME_ZH, fill="black", font=font(34))
    draw.text((text_x, 90), PROGRAMME_EN, fill="black", font=font(22))
    value_line = art.value_line if font_path is not None else art.value_line.replace("₂", "2")
    draw.text((text_x, 160), value_line, fill="black", font=font(40))
    draw.rounded_rectangle(
        (text_x, 240, text_x + 260, 340), radius=16, fill=_grade_colour(art.grade)
    )
    badge = "等级 Grade" if font_path is not None else "Grade"
    draw.text((text_x + 130, 270), badge, fill="white", font=font(24), anchor="mm")
    draw.text((text_x + 130, 312), art.grade_line, fill="white", font=font(40), anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue()

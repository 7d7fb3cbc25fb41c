"""A print sheet of labels: one A4 page of the same label, as PDF (Pillow writes it)."""

from __future__ import annotations

import io
from typing import Final

from PIL import Image

DPI: Final = 300
A4_PIXELS: Final = (2480, 3508)  # 210 x 297 mm at 300 dpi
MARGIN: Final = 118  # 10 mm
COLUMNS: Final = 3
ROWS: Final = 4


def label_sheet_pdf(png: bytes, *, title: str) -> bytes:
    """``COLUMNS`` x ``ROWS`` copies of a label image, each scaled to fit its cell."""
    label = Image.open(io.BytesIO(png)).convert("RGB")
    page = Image.new("RGB", A4_PIXELS, "white")
    cell_width = (A4_PIXELS[0] - 2 * MARGIN) // COLUMNS
    cell_height = (A4_PIXELS[1] - 2 * MARGIN) // ROWS
    scale = min((cell_width - 40) / label.width, (cell_height - 40) / label.height)
    # Whole-number scaling keeps the QR modules sharp.
    factor = max(1, int(scale)) if scale >= 1 else scale
    size = (int(label.width * factor), int(label.height * factor))
    fitted = label.resize(size, Image.Resampling.NEAREST)
    for row in range(ROWS):
        for column in range(COLUMNS):
            x = MARGIN + column * cell_width + (cell_width - size[0]) // 2
            y = MARGIN + row * cell_height + (cell_height - size[1]) // 2
            page.paste(fitted, (x, y))
    buffer = io.BytesIO()
    page.save(buffer, "PDF", resolution=float(DPI), title=title)
    return buffer.getvalue()

"""Chinese and English for the portal's pages: English text is the key, Chinese its
translation; a missing translation shows the English (a test keeps the table complete)."""

from __future__ import annotations

from typing import Final

ZH: Final[dict[str, str]] = {}


def translate(text: str, language: str) -> str:
    if language == "zh":
        return ZH.get(text, text)
    return text

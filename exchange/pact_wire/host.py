"""How this exchange names itself in PACT documents: the base URL its events come from and
its extension schemas live under (``source`` of a CloudEvent, ``dataSchema`` of the
signature's DataModelExtension)."""

from __future__ import annotations

import dataclasses
from typing import Final

SIGNATURE_EXTENSION_PATH: Final = "/pact/extensions/signature/1.0.0/schema.json"


@dataclasses.dataclass(frozen=True, slots=True)
class Host:
    """How this exchange names itself to PACT peers: the base URL its actions live under."""

    base_url: str

    @property
    def extension_schema(self) -> str:
        return self.base_url + SIGNATURE_EXTENSION_PATH

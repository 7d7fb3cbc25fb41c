"""Wire formats of products and bills of materials: JSON documents and CSV uploads."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exchange.errors import ValidationFailed, field_errors

CATEGORIES: Final = ("component", "electricity", "fuel", "transport", "waste", "packaging")
CSV_COLUMNS: Final = (
    "category",
    "label",
    "quantity",
    "unit",
    "supplierId",
    "supplierProduct",
    "recordId",
    "productId",
    "factorCode",
)


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('give a decimal as a string, e.g. "0.5"')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a decimal number") from exc
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number


class LineInput(BaseModel):
    """One bill-of-materials line, per declared unit of the product."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    category: Literal["component", "electricity", "fuel", "transport", "waste", "packaging"] = (
        "component"
    )
    label: str = Field(default="", max_length=300)
    quantity: Decimal
    unit: str = Field(min_length=1, max_length=32)
    supplier_id: str | None = Field(default=None, alias="supplierId", max_length=36)
    supplier_product: str | None = Field(default=None, alias="supplierProduct", max_length=300)
    record_id: str | None = Field(default=None, alias="recordId", max_length=36)
    product_id: str | None = Field(default=None, alias="productId", max_length=300)
    factor_code: str | None = Field(default=None, alias="factorCode", max_length=100)

    @field_validator("quantity", mode="before")
    @classmethod
    def _quantity(cls, value: object) -> Decimal:
        return _decimal(value)


class ProductInput(BaseModel):
    """A product of the caller's; ``lines`` replace its bill of materials when given."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    code: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    declared_unit: str = Field(alias="declaredUnit", min_length=1, max_length=32)
    declared_amount: Decimal = Field(alias="declaredAmount", default=Decimal(1))
    mass_per_declared_unit: Decimal | None = Field(default=None, alias="massPerDeclaredUnit")
    product_urn: str | None = Field(default=None, alias="productUrn", max_length=300)
    lines: list[LineInput] | None = None

    @field_validator("declared_amount", "mass_per_declared_unit", mode="before")
    @classmethod
    def _amounts(cls, value: object) -> Decimal | None:
        return None if value is None else _decimal(value)


def parse_product(data: object) -> ProductInput:
    try:
        return ProductInput.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("not a product definition", details=field_errors(exc)) from exc


# Each line is validated and then looked up: a bound on the work one request can ask for.
MAX_LINES = 10_000


def parse_lines(data: object) -> list[LineInput]:
    """``{"lines": [...]}`` or a bare list of lines."""
    items = data.get("lines") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValidationFailed('send {"lines": [...]}')
    if len(items) > MAX_LINES:
        message = f"a bill of materials has at most {MAX_LINES} lines"
        raise ValidationFailed(message, details=[{"field": "lines", "message": message}])
    lines: list[LineInput] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            lines.append(LineInput.model_validate(item))
        except ValidationError as exc:
            errors += field_errors(exc, prefix=f"lines.{index}")
    if errors:
        raise ValidationFailed("the bill of materials has invalid lines", details=errors)
    return lines


def parse_csv(text: str) -> list[LineInput]:
    """A bill of materials as CSV with a header row naming :data:`CSV_COLUMNS`."""
    # newline="": the csv module reads line ends itself, a lone CR included.
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        unknown = sorted(set(reader.fieldnames or ()) - set(CSV_COLUMNS))
        if unknown or not reader.fieldnames:
            raise ValidationFailed(
                f"CSV columns are {', '.join(CSV_COLUMNS)}",
                details=[{"field": name, "message": "unknown column"} for name in unknown],
            )
        rows = list(reader)
    except csv.Error as exc:
        raise ValidationFailed(f"the CSV cannot be read: {exc}") from exc
    for number, row in enumerate(rows, start=2):
        if None in row:  # DictReader keeps the cells beyond the header under the key None
            raise ValidationFailed(
                f"line {number} has more cells than the header",
                details=[{"field": f"line {number}", "message": "more cells than columns"}],
            )
    items = [
        {key: value.strip() for key, value in row.items() if value and value.strip()}
        for row in rows
    ]
    return parse_lines(items)

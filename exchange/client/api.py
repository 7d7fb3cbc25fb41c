"""A small HTTP client of the exchange API, for companies' scripts and the CLI."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

import requests

from exchange import signing


class ExchangeAPIError(Exception):
    """The exchange answered with an error body."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"HTTP {status}: {message or body}")


@dataclasses.dataclass
class ExchangeClient:
    base_url: str
    client_id: str
    client_secret: str
    timeout: float = 60.0
    http: requests.Session = dataclasses.field(default_factory=requests.Session)
    _token: str | None = None
    _token_expires: float = 0.0

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def token(self) -> str:
        if self._token is None or time.monotonic() > self._token_expires - 30:
            response = self.http.post(
                self._url("/auth/token"),
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self.client_secret),
                timeout=self.timeout,
            )
            body = _json(response)
            if response.status_code != 200:
                raise ExchangeAPIError(response.status_code, body)
            self._token = body["access_token"]
            self._token_expires = time.monotonic() + float(body["expires_in"])
        return self._token

    def request(
        self, method: str, path: str, *, headers_extra: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        response = self.http.request(
            method,
            self._url(path),
            headers={"Authorization": f"Bearer {self.token()}", **(headers_extra or {})},
            timeout=self.timeout,
            **kwargs,
        )
        body = _json(response) if response.content else None
        if response.status_code >= 400:
            raise ExchangeAPIError(response.status_code, body)
        return body

    def register_key(self, public_jwk: dict[str, str]) -> Any:
        return self.request("POST", "/api/v1/keys", json={"jwk": public_jwk})

    def push(self, envelope: dict[str, Any]) -> Any:
        return self.request("POST", "/api/v1/footprints", json=envelope)

    def push_batch(self, envelopes: Sequence[dict[str, Any]]) -> Any:
        """Per-item results; a partly rejected batch (207) is not an exception."""
        return self.request("POST", "/api/v1/footprints", json={"items": list(envelopes)})

    def get(self, record_id: str) -> Any:
        return self.request("GET", f"/api/v1/footprints/{record_id}")

    def share(
        self, organisation_id: str, *, record_id: str | None = None, product_id: str | None = None
    ) -> Any:
        body = {"organisationId": organisation_id, "recordId": record_id, "productId": product_id}
        return self.request(
            "POST", "/api/v1/shares", json={k: v for k, v in body.items() if v is not None}
        )

    def publish(self, record_id: str) -> Any:
        return self.request(
            "PUT", f"/api/v1/footprints/{record_id}/disclosure", json={"disclosure": "public"}
        )

    # --- chain-owner aggregation ---------------------------------------------------------

    def define_product(self, document: dict[str, Any]) -> Any:
        return self.request("POST", "/api/v1/products", json=document)

    def upload_bom(
        self,
        product_id: str,
        *,
        csv_text: str | None = None,
        lines: Sequence[dict[str, Any]] | None = None,
    ) -> Any:
        path = f"/api/v1/products/{product_id}/bom"
        if csv_text is not None:
            return self.request(
                "PUT",
                path,
                data=csv_text.encode("utf-8"),
                headers_extra={"Content-Type": "text/csv"},
            )
        return self.request("PUT", path, json={"lines": list(lines or ())})

    def compute_product(self, product_id: str) -> Any:
        return self.request("POST", f"/api/v1/products/{product_id}/compute")

    def explain_product(self, product_id: str) -> Any:
        return self.request("GET", f"/api/v1/products/{product_id}/explain")

    def product_result(self, product_id: str) -> Any:
        return self.request("GET", f"/api/v1/products/{product_id}/result")

    def request_missing(self, product_id: str) -> Any:
        return self.request("POST", f"/api/v1/products/{product_id}/requests")

    def derived_draft(self, product_id: str, reference_year: int | None = None) -> Any:
        params = {"referenceYear": str(reference_year)} if reference_year else None
        return self.request(
            "GET", f"/api/v1/products/{product_id}/derived-footprint", params=params
        )

    def submit_derived(
        self, product_id: str, key: Any, *, reference_year: int | None = None
    ) -> Any:
        """Fetch the draft, sign it here with ``key`` (a LocalKey) and submit it as a record."""
        draft = self.derived_draft(product_id, reference_year)
        return self.push(key.sign_footprint(draft))

    def provenance(self, record_id: str) -> Any:
        """A derived footprint's provenance as this client may see it (openings it may have,
        the exchange's attestation)."""
        return self.request("GET", f"/api/v1/footprints/{record_id}/provenance")

    def jwks(self) -> Any:
        return self.request("GET", "/.well-known/jwks.json")

    def iter_footprints(self, **params: str) -> Iterator[dict[str, Any]]:
        path: str | None = "/api/v1/footprints"
        query: dict[str, str] | None = params
        while path is not None:
            body = self.request("GET", path, params=query)
            yield from body["data"]
            next_url: str | None = body.get("next")
            path = next_url.removeprefix(self.base_url.rstrip("/")) if next_url else None
            query = None

    # --- certification and labels ---

    def certify(self, envelope: dict[str, Any]) -> Any:
        """Register a certificate signed with :func:`exchange.client.labels.sign_certificate`."""
        return self.request("POST", "/api/v1/certificates", json=envelope)

    def change_certificate(self, number: int, action: str, reason: str) -> Any:
        """``action``: suspend, reinstate or revoke."""
        return self.request(
            "POST", f"/api/v1/certificates/{number}/{action}", json={"reason": reason}
        )

    def issue_label(self, certificate: int, lot: str | None = None) -> Any:
        body: dict[str, Any] = {"certificate": certificate}
        if lot is not None:
            body["lot"] = lot
        return self.request("POST", "/api/v1/labels", json=body)

    def verify_label(self, text: str) -> Any:
        return self.request("POST", "/api/v1/labels/verify", json={"text": text})

    def trust_list(self) -> Any:
        return self.request("GET", "/.well-known/trust-list.json")


def _json(response: requests.Response) -> Any:
    try:
        return signing.parse_json(response.content)
    except ValueError:
        return {"message": response.text[:500]}

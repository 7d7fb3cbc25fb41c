"""A small HTTP client of the exchange API, for companies' scripts and the CLI."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

import requests


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

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(
            method,
            self._url(path),
            headers={"Authorization": f"Bearer {self.token()}"},
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
        return response.json()
    except ValueError:
        return {"message": response.text[:500]}

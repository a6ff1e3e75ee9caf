"""GET requests to a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics,
hosted stores): one client, errors as one-line FlowscopeErrors.

    PrometheusError        the server did not answer like a Prometheus HTTP API
    ├── PrometheusUnreachable   no answer (refused, unknown host, timeout)
    └── QueryTooLarge           the server refused a query for its size (points, samples)

Only GET is sent, with the same extra headers as REST (`Authorization: Bearer ...` or
`Basic ...` for hosted stores). Answers are `{"status": "success", "data": ...}`; the client
returns `data`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import httpx

from flowscope.errors import FlowscopeError
from flowscope.flink.http import reason

# What Prometheus-compatible servers say when a query_range asks for too much: Prometheus and
# Thanos "exceeded maximum resolution of 11,000 points per timeseries", VictoriaMetrics "too
# many points", Mimir "the query time range exceeds the limit", any "too many samples".
TOO_LARGE_MARKERS = ("exceeded maximum resolution", "too many points", "too many samples",
                     "exceeds the limit", "would load too many samples", "query time range")


class PrometheusError(FlowscopeError):
    """A Prometheus-compatible server answered, but not as one, or refused a query."""


class PrometheusUnreachable(PrometheusError):
    """No answer from the Prometheus-compatible server."""


class QueryTooLarge(PrometheusError):
    """The server refused a query for its size; a shorter range may pass."""


class PromClient:
    """An HTTP client for one Prometheus-compatible API; `transport` is the seam tests and
    recordings use. Thread-safe: queries run concurrently."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 timeout_s: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.requests = 0
        self.bytes_in = 0  # response bytes as received (compressed when the server gzips)
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.url, headers=dict(headers or {}),
                                    timeout=timeout_s, transport=transport,
                                    follow_redirects=True)

    def get(self, path: str, params: Mapping[str, str | list[str]] | None = None) -> Any:
        """GET an API path (`/api/v1/...`) and return the answer's `data`, or raise a one-line
        PrometheusError."""
        with self._lock:
            self.requests += 1
        try:
            resp = self._client.get(path, params=params)
        except httpx.ConnectError as exc:
            raise PrometheusUnreachable(
                f"cannot reach Prometheus at {self.url}: {reason(exc)}") from None
        except httpx.TimeoutException:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} did not answer {path} within {self.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusUnreachable(
                f"request to {self.url} failed: {reason(exc)}") from None
        with self._lock:
            # Answers built in memory (replayed ones) were never downloaded: count their body.
            self.bytes_in += resp.num_bytes_downloaded or len(resp.content)
        if resp.status_code in (401, 403):
            # Proxies in front of hosted stores answer these in their own shapes.
            raise PrometheusError(f"{self.url} refused the credentials ({resp.status_code} to "
                                  f"{path}): check --header")
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            raise PrometheusError(
                f"{self.url} answered {resp.status_code} to {path} without a Prometheus API "
                "answer: is this a Prometheus-compatible server (not Flink's REST API)?")
        if body["status"] == "error" or resp.status_code >= 400:
            message = str(body.get("error") or body.get("errorType") or "").splitlines()
            text = message[0][:200] if message else ""
            if any(m in text.lower() for m in TOO_LARGE_MARKERS):
                raise QueryTooLarge(f"Prometheus at {self.url} refused a query for its size: "
                                    f"{text}")
            raise PrometheusError(f"Prometheus at {self.url} answered {resp.status_code} to "
                                  f"{path}" + (f": {text}" if text else ""))
        return body.get("data")

    def close(self) -> None:
        self._client.close()

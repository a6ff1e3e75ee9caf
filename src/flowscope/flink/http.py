"""GET requests to a Flink REST API: one client, errors as one-line FlowscopeErrors.

    FlinkUnreachable   no answer (refused, unknown host, timeout, a broken connection)
    JobNotFound        404 on a /jobs/<id> path
    FlinkApiError      any other status >= 400, or an answer that is not JSON

Only GET is ever sent: flowscope reads a cluster, it never changes one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import httpx

from flowscope.errors import FlinkApiError, FlinkUnreachable, JobNotFound


class RestClient:
    """An HTTP client for one Flink REST API; `transport` is the seam tests and recordings
    use. Thread-safe: polls read vertices concurrently."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.requests = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.url, headers=dict(headers or {}),
                                    timeout=timeout_s, transport=transport,
                                    follow_redirects=True)

    def get(self, path: str) -> Any:
        """GET a REST path and return the parsed JSON, or raise a one-line FlowscopeError."""
        with self._lock:
            self.requests += 1
        where = path.split("?")[0]
        try:
            resp = self._client.get(path)
        except httpx.ConnectError as exc:
            raise FlinkUnreachable(
                f"cannot reach Flink at {self.url}: {reason(exc)} (is the cluster running?)"
            ) from None
        except httpx.TimeoutException:
            raise FlinkUnreachable(
                f"Flink at {self.url} did not answer {where} within {self.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise FlinkUnreachable(f"request to {self.url} failed: {reason(exc)}") from None
        if resp.status_code == 404 and path.startswith("/jobs/"):
            job = path.split("/")[2].split("?")[0]
            raise JobNotFound(f"Flink at {self.url} has no job {job} (404 on {where})")
        if resp.status_code >= 400:
            detail = _errors_of(resp)
            raise FlinkApiError(f"Flink at {self.url} answered {resp.status_code} to {where}"
                                + (f": {detail}" if detail else ""))
        try:
            return resp.json()
        except ValueError:
            raise FlinkApiError(
                f"{self.url}{where} did not return JSON: is this Flink's REST API?"
            ) from None

    def close(self) -> None:
        self._client.close()


def reason(exc: Exception) -> str:
    """A transport error in a few words."""
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text.splitlines()[0][:200]


def _errors_of(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    return str(errors[0]).splitlines()[0][:200] if str(errors[0]).strip() else ""

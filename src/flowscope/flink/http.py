"""GET requests to a Flink REST API: one client, errors as one-line FlowscopeErrors.

    FlinkUnreachable   no answer (refused, unknown host, timeout, a broken connection)
    JobNotFound        404 on a /jobs/<id> path
    FlinkApiError      any other status >= 400, or an answer that is not JSON

Only GET is ever sent: flowscope reads a cluster, it never changes one. Being idempotent, a GET
that fails in transit, gets a 5xx or an answer cut short is tried again (up to `attempts`
times, with exponential backoff and full jitter), within `deadline` when one is set: a poll
sets it, so no request, retries included, outlives the poll's share of time. `until` is the
command's own end (`flowscope.deadline`, --duration): no request outlives that either.

Retries are a short loop here rather than a retry library's decorator because each attempt's
timeout is cut from the time the poll has left, which only this client knows.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from flowscope.deadline import Deadline
from flowscope.errors import FlinkApiError, FlinkUnreachable, FlowscopeError, JobNotFound

ATTEMPTS = 3
BACKOFF_S = 0.05  # the first wait before a retry; doubles with each one
# No attempt is given less than this (a cluster's pause is not a stall)...
MIN_TIMEOUT_S = 0.1
# ... and none starts with less than this left before the deadline.
MIN_LEFT_S = 0.05
# An attempt may take this many times the usual answer before it counts as stalled.
STALL_FACTOR = 10.0


class _Retryable(Exception):
    """An attempt that failed in a way another attempt may not (transport, 5xx, cut short)."""

    def __init__(self, error: FlowscopeError) -> None:
        super().__init__(str(error))
        self.error = error


class RestClient:
    """An HTTP client for one Flink REST API; `transport` is the seam tests and recordings
    use. Thread-safe: polls read vertices concurrently."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None,
                 attempts: int = ATTEMPTS) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.requests = 0
        # time.monotonic() by which every request must be over; None: only timeout_s applies.
        self.deadline: float | None = None
        # The command's end (--duration): every request, in a poll or not, ends by it.
        self.until: Deadline | None = None
        # Requests refused because the deadline was too near (the poll ran out of time).
        self.out_of_time = 0
        # How long an answer usually takes (a moving average of successful requests; None
        # until the first): an attempt that takes far longer is given up and retried.
        self.typical_s: float | None = None
        self._lock = threading.Lock()
        try:
            self._client = httpx.Client(base_url=self.url, headers=dict(headers or {}),
                                        timeout=timeout_s, transport=transport,
                                        follow_redirects=True)
        except (ValueError, TypeError, httpx.InvalidURL) as exc:
            # A header that is not ASCII, a URL httpx cannot parse.
            raise FlinkApiError(f"cannot use {url!r}: {reason(exc)}") from None

    def get(self, path: str, *, attempts: int | None = None,
            deadline: float | None = None) -> Any:
        """GET a REST path and return the parsed JSON, or raise a one-line FlowscopeError.
        Transport errors, 5xx and answers cut short are retried while time allows. `attempts`
        and `deadline` (time.monotonic(), before the client's own) narrow them for this
        request: one the caller can do without."""
        attempts = self.attempts if attempts is None else max(1, attempts)
        failed: FlowscopeError | None = None  # the last attempt's error
        for attempt in range(attempts):
            left = self._left(deadline)
            if left is not None and left < MIN_LEFT_S:
                with self._lock:
                    self.out_of_time += 1
                if failed is not None:  # the attempt before took the time: say why it failed
                    raise failed
                raise FlinkUnreachable(
                    f"no time left to ask {self.url} for {path.split('?')[0]}")
            last = attempt == attempts - 1
            # Many times the usual answer's time, doubled with each attempt (before any answer:
            # a share of the time there is); the last attempt gets all that is left.
            if last:
                timeout = self.timeout_s
            elif self.typical_s is None:
                timeout = (left if left is not None else self.timeout_s) / (attempts - attempt)
            else:
                timeout = STALL_FACTOR * self.typical_s * 2 ** attempt
            timeout = min(self.timeout_s, max(MIN_TIMEOUT_S, timeout))
            if left is not None:
                timeout = min(timeout, left)
            try:
                return self._get_once(path, timeout)
            except _Retryable as exc:
                failed = exc.error
                if last:
                    raise exc.error from None
                pause = random.uniform(0.0, BACKOFF_S * 2 ** attempt)
                left = self._left(deadline)
                if left is not None and left < pause + MIN_LEFT_S:
                    raise exc.error from None
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def _left(self, deadline: float | None = None) -> float | None:
        """Seconds a request begun now may take (None: only `timeout_s` bounds it); `deadline`
        (time.monotonic()) narrows it for one request."""
        ends = [d for d in (self.deadline, deadline) if d is not None]
        left = min(ends) - time.monotonic() if ends else None
        if self.until is not None and self.until.bounded:
            hard = self.until.request_s()
            left = hard if left is None else min(left, hard)
        return left

    def _get_once(self, path: str, timeout: float) -> Any:
        with self._lock:
            self.requests += 1
        where = path.split("?")[0]
        began = time.monotonic()
        try:
            resp = self._client.get(path, timeout=timeout)
        except httpx.ConnectError as exc:
            raise _Retryable(FlinkUnreachable(
                f"cannot reach Flink at {self.url}: {reason(exc)} (is the cluster running?)"
            )) from None
        except httpx.TimeoutException:
            raise _Retryable(FlinkUnreachable(
                f"Flink at {self.url} did not answer {where} within {timeout:.2g} s"
            )) from None
        except httpx.HTTPError as exc:
            raise _Retryable(FlinkUnreachable(
                f"request to {self.url} failed: {reason(exc)}")) from None
        except (ValueError, UnicodeError, httpx.InvalidURL) as exc:
            # A path or header httpx cannot send (a control character in an id, say).
            raise FlinkApiError(f"cannot ask {self.url} for {where}: {reason(exc)}") from None
        if resp.status_code == 404 and path.startswith("/jobs/"):
            job = path.split("/")[2].split("?")[0]
            # Flink answers 404 both for a job it does not know and for a path it does not
            # serve (a proxy that passes only some paths): the job's own path, or an error
            # that names the job, tells the first.
            if path.split("?")[0].rstrip("/") == f"/jobs/{job}" or job in _errors_of(resp):
                raise JobNotFound(f"Flink at {self.url} has no job {job} (404 on {where})",
                                  404)
        if resp.status_code >= 400:
            detail = _errors_of(resp)
            error = FlinkApiError(f"Flink at {self.url} answered {resp.status_code} to {where}"
                                  + (f": {detail}" if detail else ""), resp.status_code)
            if resp.status_code >= 500:
                raise _Retryable(error)
            raise error
        try:
            body = resp.json()
        except ValueError:
            # Cut short or garbled on the way (a proxy, a JobManager under pressure): another
            # attempt may get the whole answer.
            raise _Retryable(FlinkApiError(
                f"{self.url}{where} did not return JSON: is this Flink's REST API?"
            )) from None
        took = time.monotonic() - began
        self.typical_s = took if self.typical_s is None else 0.8 * self.typical_s + 0.2 * took
        return body

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
    except (ValueError, UnicodeError):
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    return str(errors[0]).splitlines()[0][:200] if str(errors[0]).strip() else ""

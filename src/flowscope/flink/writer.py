"""The one place where flowscope changes a Flink cluster: `PUT /jobs/:jid/resource-requirements`
(each vertex's parallelism bounds), used by `flowscope tune --apply` alone. Every other read
of Flink goes through `flowscope.flink.http` (GET only).

The adaptive scheduler restarts the job's tasks from its latest checkpoint at the new
parallelism, within a few seconds (measured on Flink 2.3: docs/tune.md). Nothing here stops,
cancels or restarts a job.

    WriteNotAllowed   401 / 403 (no write access, e.g. an authenticating proxy), 404 / 405
                      (a Flink or a proxy without the endpoint): print the change instead
    FlinkApiError     any other error (400: Flink refused the requirements, with its reason)
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from flowscope.errors import FlinkApiError, FlinkUnreachable, FlowscopeError
from flowscope.flink.http import reason
from flowscope.flink.requirements import Bounds

NOT_ALLOWED_STATUS = frozenset({401, 403, 404, 405})


class WriteNotAllowed(FlowscopeError):
    """The cluster (or a proxy before it) does not let flowscope change the job."""


def requirements_body(bounds: Mapping[str, Bounds]) -> dict[str, dict[str, dict[str, int]]]:
    """The JSON body Flink's resource-requirements endpoint takes (and answers)."""
    return {vid: {"parallelism": {"lowerBound": b.lower, "upperBound": b.upper}}
            for vid, b in bounds.items()}


def put_requirements(url: str, job_id: str, bounds: Mapping[str, Bounds], *,
                     headers: Mapping[str, str] | None = None, timeout_s: float = 10.0,
                     transport: httpx.BaseTransport | None = None) -> None:
    """Set every vertex's parallelism bounds of a job running on the adaptive scheduler.
    Sent once: a write is not retried behind the user's back."""
    path = f"/jobs/{job_id}/resource-requirements"
    try:
        with httpx.Client(base_url=url.rstrip("/"), headers=dict(headers or {}),
                          timeout=timeout_s, transport=transport) as client:
            resp = client.put(path, json=requirements_body(bounds))
    except httpx.HTTPError as exc:
        raise FlinkUnreachable(f"cannot reach Flink at {url} to change {job_id}: "
                               f"{reason(exc)}") from None
    if resp.status_code in NOT_ALLOWED_STATUS:
        raise WriteNotAllowed(f"Flink at {url} answered {resp.status_code} to PUT {path}",
                              resp.status_code)
    if resp.status_code >= 400:
        raise FlinkApiError(f"Flink at {url} refused the new requirements "
                            f"({resp.status_code}): {_first_error(resp)}", resp.status_code)


def _first_error(resp: httpx.Response) -> str:
    try:
        errors = resp.json().get("errors")
    except (ValueError, AttributeError):
        return resp.text.splitlines()[0][:200] if resp.text else ""
    if not isinstance(errors, list) or not errors:
        return ""
    # Flink puts the exception's message after its class name, on the first line.
    line = str(errors[0]).splitlines()[0]
    return line.split("Exception: ", 1)[-1][:300]

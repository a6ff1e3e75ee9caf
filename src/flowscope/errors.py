"""The errors flowscope reports to users.

    FlowscopeError            anything flowscope explains in one line instead of a traceback
    ├── FlinkUnreachable      no answer from the cluster (wrong URL, dead cluster, timeout)
    ├── FlinkApiError         the cluster answered, but not as expected (4xx/5xx, bad JSON)
    ├── JobNotFound           no job matches the selection, or several do
    ├── PollsFailed           a live loop ended and every one of its polls had failed
    ├── RecordingError        a recording cannot be opened, is corrupt, or has no data
    └── LabError              the local Flink lab could not be set up (flowscope.lab)
"""

from __future__ import annotations


class FlowscopeError(Exception):
    """An error with a message meant for the user; the CLI prints it on one line. `status`:
    the HTTP status of the answer behind it, where there was one (>= 400)."""

    def __init__(self, message: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FlinkUnreachable(FlowscopeError):
    """The Flink REST API did not answer."""


class FlinkApiError(FlowscopeError):
    """The Flink REST API answered with an error or with something unparseable."""


class JobNotFound(FlowscopeError):
    """No job, or more than one, matches what was asked for."""


class PollsFailed(FlowscopeError):
    """Every poll of a live loop failed (the job is listed, but reading it fails): how many,
    over how long (seconds), and the last error."""

    def __init__(self, subject: str, failed: int, polls: int, elapsed_s: float,
                 last_error: str) -> None:
        # subject: what was polled, as said in the message ("'orders'", "the job list at URL")
        super().__init__(f"{failed} of {polls} polls of {subject} failed in "
                         f"{elapsed_s:.0f} s; the last error: {last_error}")
        self.subject = subject
        self.failed = failed
        self.polls = polls
        self.elapsed_s = elapsed_s
        self.last_error = last_error


class RecordingError(FlowscopeError):
    """A recording file is missing, corrupt, or not a flowscope recording."""

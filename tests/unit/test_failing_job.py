"""A job whose every read fails: `record`, `watch`, `serve` and `diagnose` with --duration end
on time and say why.

The JobManager stand-in (tests/faults, scope "job") lists the job, but answers every request
for it (`/jobs/<id>...`) with Flink's 500, or not at all until the client gives up. Each
command runs as a user runs it (a process, stdout not a terminal, all eight runs at once)
and must end within its --duration plus one request timeout, counted from its first request
(its start-up before that varies with the machine's load), with exit code 4 and one line on
stderr naming how many polls failed and the last error; `diagnose --json` says so on stdout
too, and so does the dashboard's /api/jobs while it runs.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema
import pytest

from tests.faults.runs import COMMANDS, Ended, run_all_to_the_end

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 4.0
INTERVAL_S = 0.5
REQUEST_TIMEOUT_S = 10.0  # the REST client's default (FlinkRestSource timeout_s)
EXIT_ERROR = 4
LAST_LINE = re.compile(r"^flowscope: error: (\d+) of (\d+) polls of 'flowscope-compute-bound' "
                       r"failed in \d+ s; the last error: (.+)$")
# What each fault looks like in the last error.
SAID = {"http_500": r"answered 500 to /jobs/[0-9a-f]{32}\S*: Internal server error\.",
        "stall": r"did not answer /jobs/[0-9a-f]{32}\S* within [0-9.]+ s"}

_runs: dict[tuple[str, str], Ended] = {}


def _ended(fault: str, command: str, workdir: Path) -> Ended:
    if not _runs:  # the first test runs all eight at once; the others read their results
        _runs.update(run_all_to_the_end(sorted(SAID), DURATION_S, INTERVAL_S, workdir))
    return _runs[fault, command]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("failing-job")


@cache
def _error_schema() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "schema" / "error.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("fault", sorted(SAID))
@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_whose_polls_all_fail_ends_on_time_and_says_why(
        command: str, fault: str, workdir: Path) -> None:
    run = _ended(fault, command, workdir)
    tail = "\n".join(run.stderr.strip().splitlines()[-5:])
    assert run.exit_code is not None, f"{command} was still running: {tail}"
    assert run.startup_s > 0, f"{command} sent no request: {tail}"
    assert run.ran_s <= DURATION_S + REQUEST_TIMEOUT_S, (
        f"{command} ran {run.ran_s:.1f} s from its first request, asked for {DURATION_S:g}")
    assert run.exit_code == EXIT_ERROR, tail
    assert "Traceback" not in run.stderr
    said = LAST_LINE.match(run.stderr.strip().splitlines()[-1])
    assert said, tail
    failed, made, error = int(said[1]), int(said[2]), said[3]
    assert failed == made >= 1
    assert re.search(SAID[fault], error), error
    if command == "diagnose":
        doc = json.loads(run.stdout)
        assert list(_error_schema().iter_errors(doc)) == []
        assert doc["kind"] == "polls-failed"
        assert doc["polls"]["failed"] == doc["polls"]["made"] == made
        assert doc["polls"]["last_error"] == error
    if command == "watch":  # not on a terminal: a plain line as soon as polls fail
        assert re.search(SAID[fault], run.stdout), run.stdout
    if command == "serve":  # the dashboard's JSON says so while it runs
        assert run.api_jobs is not None
        [job] = run.api_jobs["jobs"]
        assert job["polls"] == 0 and job["failed_polls"] >= 1
        assert re.search(SAID[fault], job["error"]), job

"""flowscope's live commands through every fault kind of the replay server (tests/faults):
`record`, `watch`, `serve` and `diagnose` each end as asked, without a traceback, and keep at
least 70% of their polls while 20% of the requests fail (one kind per run; scenarios: once,
30% into the run).

The commands run as processes, each against its own server (tests/faults/runs.py), so exit
codes, tracebacks and signals are the real ones. They wait on the network and the clock far
more than they compute, so the four commands of a kind run at the same time: the first test
of a kind runs all four, the others read their results. The whole matrix takes about one
duration per kind. `scripts/fault_survey.py` runs it longer and prints a table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.runs import COMMANDS, KINDS, RunResult, Settings, run_kinds

MIN_KEPT = 0.7
# Short runs: 10 polls each. A run may end up to 4 s past its duration (counted from its
# first request); one still going 6 s past it is killed and counts as not ending.
SETTINGS = Settings(duration=5.0, interval=0.5, rate=0.2, seed=1, overrun_s=4.0,
                    kill_after_s=6.0)

# Kinds run at the same time: one (its four commands), so that the runs do not starve each
# other of the cores the rest of the suite's processes share (two kinds at once, eight
# processes beside two other test processes on two cores, kept 3 of 9 polls in 1 of 4 runs).
AT_ONCE = 1
_results: dict[str, dict[str, RunResult]] = {}


def _runs(kind: str, workdir: Path) -> dict[str, RunResult]:
    if kind not in _results:
        i = KINDS.index(kind)
        batch = [k for k in KINDS[i:i + AT_ONCE] if k not in _results]
        for k, runs in run_kinds(batch, SETTINGS, workdir).items():
            _results[k] = {r.command: r for r in runs}
    return _results[kind]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.mark.parametrize(("kind", "command"), [(k, c) for k in KINDS for c in COMMANDS])
def test_command_survives_the_fault(kind: str, command: str, workdir: Path) -> None:
    result = _runs(kind, workdir)[command]
    problems = result.problems(MIN_KEPT)
    tail = "\n".join(result.stderr.strip().splitlines()[-8:])
    assert not problems, (
        f"{command} under {kind}: {'; '.join(problems)} ({result.faults} of "
        f"{result.requests} requests faulted; {result.detail})\n{tail}"
    )

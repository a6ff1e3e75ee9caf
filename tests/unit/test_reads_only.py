"""`tune --apply` is the only command that writes to Flink: every other command, run against a
JobManager stand-in that replays a real recording and logs each request's method, sends GET
requests only; `tune --apply --yes` sends exactly one PUT, of the resource requirements (the
stand-in refuses it, 405, and tune prints the change instead). And in the source, only
flink/writer.py sends anything but GET (the lab, which submits its own jobs, aside)."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowscope.cli import COMMANDS
from tests.faults.server import FaultServer

SRC = Path(__file__).resolve().parents[2] / "src" / "flowscope"
TUNE_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tune" / "off-cpu.fsrec"
WRITE_METHODS = {"post", "put", "patch", "delete"}
# Commands that read no Flink cluster: `diff` compares recordings (or Prometheus windows, read
# through the same GET client); `demo` and `lab` start the lab's own cluster.
NO_CLUSTER = {"diff", "demo", "lab"}


def run(args: list[str], seconds: float = 60.0, stop_after: float | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run a command; with `stop_after`, interrupt it (Ctrl-C) after that many seconds."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    cmd = [sys.executable, "-m", "flowscope.cli", *args]
    if stop_after is None:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=seconds, env=env,
                              stdin=subprocess.DEVNULL)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(stop_after)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=seconds)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def commands(url: str, tmp: Path) -> dict[str, tuple[list[str], float | None]]:
    """Each command that reads a cluster, as a user would run it against `url`."""
    return {
        "diagnose": (["diagnose", "--url", url, "--duration", "8", "--json"], None),
        "jobs": (["jobs", "--url", url], None),
        "record": (["record", str(tmp / "r.fsrec"), "--url", url, "--duration", "4"], None),
        "report": (["report", "--url", url, "--duration", "4", "-o", str(tmp / "r.html")],
                   None),
        "profile": (["profile", "--url", url, "--diagnose-time", "3", "--max-time", "2",
                     "--flame-timeout", "2", "--samples", "2"], None),
        "scan": (["scan", "--url", url, "--duration", "6"], None),
        "watch": (["watch", "--url", url, "--duration", "4"], None),
        "serve": (["serve", "--url", url, "--port", "0", "--interval", "1"], 5.0),
        "tune": (["tune", "--url", url, "--duration", "8"], None),
    }


def test_every_command_that_reads_a_cluster_is_checked():
    assert set(commands("http://x", Path("/tmp"))) == set(COMMANDS) - NO_CLUSTER


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - NO_CLUSTER))
def test_a_command_sends_only_gets(name, tmp_path):
    args, stop_after = commands("", tmp_path)[name]
    with FaultServer(TUNE_FIXTURE, speed=1.5) as server:
        args = [server.url if a == "" else a for a in args]
        proc = run(args, stop_after=stop_after)
        methods = {r.method for r in server.log}
    assert server.log, f"{name} asked nothing: {proc.stderr[-500:]}"
    assert methods == {"GET"}, (name, methods)


def test_tune_apply_without_yes_and_no_terminal_writes_nothing(tmp_path):
    with FaultServer(TUNE_FIXTURE, speed=1.5) as server:
        proc = run(["tune", "--url", server.url, "--duration", "12", "--apply",
                    "--target-rate", "1500"])
        methods = {r.method for r in server.log}
    assert methods == {"GET"}
    assert proc.returncode == 8, proc.stderr[-800:]


def test_tune_apply_yes_sends_one_put_of_the_requirements(tmp_path):
    journal = tmp_path / "j.jsonl"
    with FaultServer(TUNE_FIXTURE, speed=1.5) as server:
        proc = run(["tune", "--url", server.url, "--duration", "12", "--apply", "--yes",
                    "--target-rate", "1500", "--journal", str(journal)])
        writes = [r for r in server.log if r.method != "GET"]
    assert [(r.method, r.path.split("/")[-1], r.status) for r in writes] == [
        ("PUT", "resource-requirements", 405)]
    # Refused: no write access. The change is printed instead, and nothing was journaled.
    assert proc.returncode == 8, proc.stderr[-800:]
    assert "pipeline.jobvertex-parallelism-overrides" in proc.stdout
    assert not journal.exists()


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _calls(tree: ast.AST) -> list[tuple[str, int]]:
    """(verb, line) of every HTTP write: `httpx.<verb>(...)`, `<client>.<verb>(...)` on
    anything named like a client, or `<client>.request("<VERB>", ...)`."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr = node.func.attr.lower()
        who = _receiver(node.func.value).lower()
        if who != "httpx" and "client" not in who and "http" not in who:
            continue
        if attr in WRITE_METHODS:
            out.append((attr, node.lineno))
        elif attr in ("request", "build_request", "stream") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and str(first.value).lower() in WRITE_METHODS:
                out.append((str(first.value).lower(), node.lineno))
    return out


def test_only_the_writer_module_writes():
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("lab/"):  # submits and cancels the lab's own jobs
            continue
        calls = _calls(ast.parse(path.read_text(encoding="utf-8")))
        if calls:
            found[rel] = calls
    assert set(found) == {"flink/writer.py"}, found
    assert [m for m, _ in found["flink/writer.py"]] == ["put"]


def test_the_write_check_sees_writes():
    tree = ast.parse("self._client.put('/x', json={})\nhttpx.request('POST', '/y')\n"
                     "c.get('/z')\nqueue.put(1)\nself.http.patch('/j')\n")
    assert [m for m, _ in _calls(tree)] == ["put", "post", "patch"]

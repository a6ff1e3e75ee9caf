"""Recordings: replay fidelity, reading while writing, and bad files."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from flowscope.analysis.engine import diagnose
from flowscope.api import load_recording
from flowscope.errors import RecordingError
from flowscope.recording import Recorder, Recording
from flowscope.sampling import ReplaySession
from tests.conftest import fixture_path


def test_replay_is_deterministic():
    g1, s1 = load_recording(fixture_path("skew"))
    g2, s2 = load_recording(fixture_path("skew"))
    assert g1 == g2
    assert [s.subtasks for s in s1] == [s.subtasks for s in s2]


def test_random_bytes_are_not_a_recording(tmp_path):
    bad = tmp_path / "bad.fsrec"
    bad.write_bytes(b"\x00garbage" * 500)
    with pytest.raises(RecordingError, match="not a flowscope recording"):
        Recording(bad)
    with pytest.raises(RecordingError):
        Recorder(bad)
    assert bad.read_bytes() == b"\x00garbage" * 500  # untouched


def test_foreign_sqlite_file_is_never_written(tmp_path):
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = other.read_bytes()
    with pytest.raises(RecordingError, match="refusing to write"):
        Recorder(other)
    assert other.read_bytes() == before


def test_missing_file(tmp_path):
    with pytest.raises(RecordingError, match="no recording at"):
        Recording(tmp_path / "nope.fsrec")


def test_truncated_recording_gives_a_clear_error(tmp_path):
    cut = tmp_path / "cut.fsrec"
    data = fixture_path("skew").read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(RecordingError):
        load_recording(cut)


def test_appending_keeps_earlier_polls_and_is_readable_while_written(tmp_path):
    path = tmp_path / "copy.fsrec"
    shutil.copy(fixture_path("skew"), path)
    with Recording(path) as r:
        n_before = len(r.polls())
        job_id = r.polls()[0].job_id
        last = r.polls()[-1]
        path_of = r._conn.execute("SELECT path FROM paths LIMIT 1").fetchone()[0]
        status, body = r.response(last.id, path_of)
    writer = Recorder(path, "http://recorded")
    reader = Recording(path)  # opened while the writer holds the file
    writer.capture(path_of, status, body)
    writer.commit_poll(last.t + 1, job_id)
    assert len(reader.polls()) == n_before + 1
    reader.close()
    writer.close()
    graph, samples = load_recording(path)
    assert len(samples) == n_before + 1
    assert diagnose(graph, samples).bottlenecks


def test_unknown_job_in_recording(tmp_path):
    with pytest.raises(RecordingError, match="matches 0"):
        ReplaySession(fixture_path("skew"), job="ffff")


def test_recording_is_small():
    """Polls that repeat the JobManager's last snapshot cost little."""
    path = fixture_path("skew")
    with Recording(path) as r:
        polls = len(r.polls())
    assert path.stat().st_size / polls < 8 * 1024


def test_a_failed_first_poll_keeps_what_is_read_once_per_job(tmp_path):
    """The source caches the plan: a first poll that fails after reading it must not leave a
    recording whose first good poll has no plan (seen live: `poll 1 cannot be replayed`)."""
    src = Recording(fixture_path("skew"))
    (job_id,) = src.job_ids()
    first = src.polls(job_id)[0].id
    paths = [p for p in src._paths_at(first, "%") if "?" not in p]
    metric = next(p for poll in src.polls(job_id) for p in src._paths_at(poll.id, "%?get=%"))
    out = tmp_path / "failed-first.fsrec"
    writer = Recorder(out, "http://recorded")
    last = src.polls(job_id)[-1].id
    for p in [*paths, metric]:
        status, body = src.response(last, p)
        writer.capture(p, status, body)
    writer.fail_poll(1.0, "the poll ran out of time")
    writer.capture(metric, *src.response(last, metric))
    writer.commit_poll(2.0, job_id)
    writer.close()
    replay = Recording(out)
    (poll,) = replay.polls(job_id)
    assert replay.response(poll.id, f"/jobs/{job_id}/plan") is not None
    assert replay.failed_polls() == [(1.0, "the poll ran out of time")]

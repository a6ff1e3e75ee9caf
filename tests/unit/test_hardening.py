"""The edges issue 10 hardened: names printed as text, numbers and URLs checked, internal
errors with their own exit code, recordings opened by path and checkpointed."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.text import Text

from flowscope.cli.common import EXIT_INTERNAL, POSITIVE, check_url, friendly_errors
from flowscope.errors import RecordingError
from flowscope.recording import Recorder, Recording
from flowscope.render.safe import SafeConsole, printable

HOSTILE = "job [/] \x1b[31mred\x1b[0m\r"


def test_control_characters_are_spelled_out() -> None:
    assert printable(HOSTILE) == "job [/] \\x1b[31mred\\x1b[0m\\x0d"
    assert printable("plain name") == "plain name"


@pytest.mark.parametrize("color", [True, False])
def test_a_hostile_name_reaches_the_terminal_as_text(color: bool) -> None:
    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=color, no_color=not color, width=80)
    console.print(Text(HOSTILE), style="bold")
    printed = out.getvalue()
    assert "[/]" in printed and "\\x1b[31m" in printed and "\r" not in printed
    assert "\x1b[31m" not in printed


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x"])
def test_numeric_options_refuse_what_is_not_a_positive_number(value: str) -> None:
    with pytest.raises(click.BadParameter):
        POSITIVE.convert(value, None, None)


@pytest.mark.parametrize("url", ["http://[::1", "ftp://host", "localhost:8081", "http://"])
def test_bad_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(click.BadParameter):
        check_url(None, None, url)


def test_an_unexpected_exception_is_an_internal_error_not_a_verdict() -> None:
    @click.command()
    @friendly_errors
    def broken() -> None:
        raise KeyError("boom")

    result = CliRunner().invoke(broken)
    assert result.exit_code == EXIT_INTERNAL
    assert "internal error" in result.output and "Traceback" not in result.output


def test_a_recording_name_may_hold_question_marks_and_hashes(tmp_path: Path) -> None:
    path = tmp_path / "a?b#c.fsrec"
    rec = Recorder(path, "http://x")
    rec.capture("/jobs/1", 200, b"{}")
    rec.commit_poll(1.0, "1")
    rec.fail_poll(2.0, "cannot reach Flink")
    rec.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a?b#c.fsrec"]
    with Recording(path) as r:
        assert [p.job_id for p in r.polls()] == ["1"]
        assert r.failed_polls() == [(2.0, "cannot reach Flink")]


def test_a_copy_without_its_wal_holds_every_committed_poll(tmp_path: Path) -> None:
    path = tmp_path / "live.fsrec"
    rec = Recorder(path, "http://x")
    for i in range(3):
        rec.capture("/jobs/1", 200, b"{}")
        rec.commit_poll(float(i), "1")
    copy = tmp_path / "copy.fsrec"
    copy.write_bytes(path.read_bytes())  # the writer is still open: its -wal is left behind
    rec.close()
    with Recording(copy) as r:
        assert len(r.polls()) == 3


def test_a_damaged_recording_is_a_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.fsrec"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    with pytest.raises(RecordingError):
        Recording(path).polls()
    with pytest.raises(RecordingError):
        Recorder(tmp_path / "missing" / "x.fsrec")
    assert not isinstance(RecordingError("x"), sqlite3.Error)


def _damage_stored_text(path: Path, query: str, skip_after: bytes, inside: bytes) -> None:
    """Turn one byte of the first value `query` reads (the first digit after `inside` in it)
    into a control character, in the file's own bytes, where the value is not preceded by
    `skip_after`: as a flipped bit of a digit does ('4' ^ 0x20 is '\\x14')."""
    with sqlite3.connect(path) as conn:
        text = str(conn.execute(query).fetchone()[0]).encode()
    data = bytearray(path.read_bytes())
    at = data.find(text)
    while at >= 0 and skip_after and data[:at].endswith(skip_after):
        at = data.find(text, at + 1)
    assert at >= 0
    start = text.find(inside) + len(inside)
    digit = next(i for i in range(start, len(text)) if chr(text[i]).isdigit())
    data[at + digit] ^= 0x20
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("query", "skip_after", "inside"), [
    # the job id of the polls, which the replay puts into every request
    ("SELECT job_id FROM polls ORDER BY id DESC", b"/jobs/", b""),
    # a flame graph's path, whose vertex id the replay asks for again
    ("SELECT path FROM paths WHERE path LIKE '%/flamegraph?type=on_cpu'", b"", b"/vertices/"),
])
def test_a_damaged_byte_in_a_stored_id_is_an_unreadable_recording_not_a_crash(
        tmp_path: Path, query: str, skip_after: bytes, inside: bytes) -> None:
    from flowscope.cli import main
    from tests.conftest import fixture_path

    path = tmp_path / "damaged.fsrec"
    path.write_bytes(fixture_path("compute-bound").read_bytes())
    _damage_stored_text(path, query, skip_after, inside)
    result = CliRunner().invoke(main, ["diagnose", "--from", str(path)])
    assert result.exit_code == 4, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("flowscope: error: ") and "damaged" in line, line

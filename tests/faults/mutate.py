"""Damage on purpose: structural mutations of JSON documents, and of recording files.

JSON: the sites of a document are the paths to each value in it; a `Mutation` changes one
site (drops it, nulls it, gives it another type or container, makes a number odd). The same
mutation on the same document always gives the same result, so a fuzz case is reproducible
from its numbers alone (and Hypothesis can shrink them).

Files: damage to a copy of a recording, the way disks, copies and crashes damage them: flipped
bytes, overwritten pages, truncation, a file copied while it was written without its -wal.
Random flips rarely land in the few bytes a replay puts back into a request, so two kinds aim
there: a bit flipped inside a stored request path, or inside a stored poll's job id.
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JsonPath = tuple[str | int, ...]

# Operations that change the shape of a document, and those that change a number's value.
SHAPE_OPS = ("drop", "null", "wrong_type", "wrong_container", "empty")
VALUE_OPS = ("as_string", "negative", "huge", "nan")
OPS = SHAPE_OPS + VALUE_OPS

# The server's fault kinds that are structural mutations, and the operations each uses.
KIND_OPS: dict[str, tuple[str, ...]] = {
    "dropped_keys": ("drop",),
    "wrong_types": ("wrong_type", "wrong_container", "null", "empty"),
    "odd_values": VALUE_OPS,
}

# 10**400 is a valid JSON integer that no float holds.
HUGE: tuple[int | float, ...] = (2**63, 2**64 + 1, 10**30, 1.7976931348623157e308, 10**400)
NANS: tuple[float, ...] = (math.nan, math.inf, -math.inf)
NAN_TEXT = ("NaN", "Infinity", "-Infinity")


@dataclass(frozen=True)
class Mutation:
    """`op` at the `site`-th place it applies to (modulo their number); `variant` picks among
    the values the operation can put there."""

    op: str
    site: int
    variant: int = 0


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _numeric_text(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        float(v)
    except ValueError:
        return False
    return True


def sites(doc: Any, op: str) -> list[JsonPath]:
    """Every place in `doc` that `op` can change, shallowest first (so that small site numbers,
    where Hypothesis shrinks to, hit the keys a reader looks at first)."""
    out: list[JsonPath] = []
    level: list[tuple[Any, JsonPath]] = [(doc, ())]
    while level:
        below: list[tuple[Any, JsonPath]] = []
        for value, path in level:
            if op == "drop":
                if path:
                    out.append(path)
            elif op in SHAPE_OPS or _is_number(value) or _numeric_text(value):
                out.append(path)
            if isinstance(value, dict):
                below.extend((v, (*path, k)) for k, v in value.items())
            elif isinstance(value, list):
                below.extend((v, (*path, i)) for i, v in enumerate(value))
        level = below
    return out


def _get(doc: Any, path: JsonPath) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _set(doc: Any, path: JsonPath, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _wrong_type(value: Any, variant: int) -> Any:
    if isinstance(value, dict | list):
        choices: list[Any] = ["text", 7, True]
    elif isinstance(value, bool):
        choices = ["true", 1, []]
    elif isinstance(value, str):
        choices = [7, 2.5, True, [], {}]
    elif _is_number(value):
        choices = ["text", True, [], {}]
    else:  # None
        choices = ["null", 0, {}]
    return choices[variant % len(choices)]


def _wrong_container(value: Any) -> Any:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return [] if value is None else [value]


def _empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    if isinstance(value, bool):
        return False
    if _is_number(value):
        return 0
    return ""


def _odd(value: Any, op: str, variant: int) -> Any:
    as_text = isinstance(value, str)
    number = float(value) if as_text else value
    if op == "as_string":
        if as_text:  # the other way round: a number where Flink sends text
            return int(number) if math.isfinite(number) and number == int(number) else number
        return str(value)
    if op == "negative":
        odd: int | float = -abs(number) - 1 if math.isfinite(number) else -math.inf
        if isinstance(value, int) and not as_text:
            odd = int(odd)
    elif op == "huge":
        odd = HUGE[variant % len(HUGE)]
    else:  # nan
        if as_text:
            return NAN_TEXT[variant % len(NAN_TEXT)]
        odd = NANS[variant % len(NANS)]
    return str(odd) if as_text else odd


def apply(doc: Any, mutation: Mutation) -> tuple[Any, str]:
    """`doc` (unchanged) mutated: the new document and a one-line description."""
    places = sites(doc, mutation.op)
    if not places:
        return doc, f"{mutation.op}: nowhere to apply"
    path = places[mutation.site % len(places)]
    new = copy.deepcopy(doc)
    where = "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)
    value = _get(new, path)
    op = mutation.op
    if op == "drop":
        parent = _get(new, path[:-1])
        del parent[path[-1]]
        return new, f"drop {where}"
    if op == "null":
        changed: Any = None
    elif op == "wrong_type":
        changed = _wrong_type(value, mutation.variant)
    elif op == "wrong_container":
        changed = _wrong_container(value)
    elif op == "empty":
        changed = _empty(value)
    else:
        changed = _odd(value, op, mutation.variant)
    shown = json.dumps(changed)[:40] if not isinstance(changed, int) or abs(changed) < 10**20 \
        else f"<{len(str(changed))}-digit integer>"
    return _set(new, path, changed), f"{op} {where} = {shown}"


def apply_all(doc: Any, mutations: Sequence[Mutation]) -> tuple[Any, list[str]]:
    """The mutations one after the other; their descriptions."""
    done = []
    for m in mutations:
        doc, what = apply(doc, m)
        done.append(what)
    return doc, done


def random_mutations(ops: Sequence[str], rng: random.Random, count: int) -> list[Mutation]:
    """`count` mutations; half of them among the first, shallowest sites of a document."""
    return [Mutation(rng.choice(list(ops)), rng.randrange(rng.choice([16, 2**31])),
                     rng.randrange(2**16))
            for _ in range(count)]


def dumps(doc: Any) -> bytes:
    """JSON as a lenient server would send it: NaN and Infinity as bare tokens."""
    return json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()


# ---- JSON text ----------------------------------------------------------------------------

def truncate_text(body: bytes, rng: random.Random) -> bytes:
    """The body cut short (a proper prefix of a JSON object or array is never valid JSON)."""
    if len(body) < 2:
        return b""
    return body[: rng.randrange(1, len(body))]


def corrupt_text(body: bytes, rng: random.Random) -> bytes:
    """The body with a few bytes wrong, so that it no longer parses."""
    for _ in range(20):
        out = bytearray(body or b"{}")
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(out))
            how = rng.randrange(4)
            if how == 0:  # a structural character replaced
                out[i:i + 1] = rng.choice([b"{", b"}", b"[", b"]", b":", b",", b'"'])
            elif how == 1:  # bytes that are not UTF-8
                out[i:i] = b"\xff\xfe"
            elif how == 2:  # a bare word JSON does not know
                out[i:i] = b"undefined"
            else:  # a byte lost
                del out[i]
        try:
            json.loads(bytes(out))
        except ValueError:
            return bytes(out)
    return bytes(body) + b"}"


# ---- recording files ----------------------------------------------------------------------

# Ways a recording file gets damaged; the wal_* ones need a copy taken while it was written.
FILE_DAMAGE = ("flip", "flip_path", "flip_job_id", "page", "zero_page", "header", "truncate",
               "truncate_page", "empty", "append", "wal_missing", "wal_truncated", "wal_flip")
PAGE = 4096


def _uri(path: Path, mode: str = "ro") -> str:
    return f"{path.resolve().as_uri()}?mode={mode}"


def trimmed_copy(src: Path, dst: Path, polls: int) -> None:
    """A copy of recording `src` with only its first `polls` polls: a smaller real recording
    (a fuzz case replays it in a fraction of the time)."""
    with sqlite3.connect(_uri(src), uri=True) as source, sqlite3.connect(dst) as out:
        source.backup(out)
    conn = sqlite3.connect(dst)
    try:
        with conn:
            keep = [r[0] for r in conn.execute("SELECT id FROM polls ORDER BY id LIMIT ?",
                                               (polls,))]
            last = keep[-1] if keep else 0
            conn.execute("DELETE FROM polls WHERE id > ?", (last,))
            conn.execute("DELETE FROM responses WHERE poll_id > ?", (last,))
            conn.execute("DELETE FROM bodies WHERE id NOT IN (SELECT body_id FROM responses)")
            conn.execute("DELETE FROM paths WHERE id NOT IN (SELECT path_id FROM responses)")
        conn.execute("VACUUM")
    finally:
        conn.close()


def copy_mid_write(src: Path, dst: Path, *, checkpointed: int, with_wal: bool) -> None:
    """`dst`: recording `src` as a copy taken while it was being written. The writer is in WAL
    mode: the first `checkpointed` polls have reached the main file, the rest live only in the
    -wal file, which is copied along or not."""
    work = dst.with_name(dst.name + ".writing")
    conn = sqlite3.connect(_uri(work, "rwc"), uri=True)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # a writer between two checkpoints
        conn.execute("ATTACH DATABASE ? AS s", (_uri(src),))
        for (sql,) in conn.execute("SELECT sql FROM s.sqlite_master WHERE type = 'table'"):
            conn.execute(sql)
        with conn:
            for table in ("meta", "paths", "bodies"):
                conn.execute(f"INSERT INTO {table} SELECT * FROM s.{table}")
            conn.execute("INSERT INTO polls SELECT * FROM s.polls WHERE id <= ?", (checkpointed,))
            conn.execute("INSERT INTO responses SELECT * FROM s.responses WHERE poll_id <= ?",
                         (checkpointed,))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with conn:
            conn.execute("INSERT INTO polls SELECT * FROM s.polls WHERE id > ?", (checkpointed,))
            conn.execute("INSERT INTO responses SELECT * FROM s.responses WHERE poll_id > ?",
                         (checkpointed,))
        conn.execute("DETACH DATABASE s")
        shutil.copyfile(work, dst)
        wal = Path(f"{work}-wal")
        if with_wal and wal.exists():
            shutil.copyfile(wal, Path(f"{dst}-wal"))
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)


def _stored_text(path: Path, how: str) -> list[bytes]:
    """The stored strings `how` aims at: every request path, or every poll's job id."""
    query = ("SELECT path FROM paths" if how == "flip_path"
             else "SELECT DISTINCT job_id FROM polls")
    with sqlite3.connect(_uri(path), uri=True) as conn:
        return [str(v).encode() for (v,) in conn.execute(query) if v]


def _places(data: bytes, text: bytes, how: str) -> list[int]:
    """Where `text` is stored in the file (a job id inside a path is not the poll's own)."""
    out, at = [], data.find(text)
    while at >= 0:
        if how != "flip_job_id" or not data[max(0, at - 6):at].endswith(b"/jobs/"):
            out.append(at)
        at = data.find(text, at + 1)
    return out


def damage(path: Path, how: str, rng: random.Random) -> str:
    """Damage the file at `path` (a copy) in place; for the wal_* kinds, its -wal file.
    Returns what was done."""
    target = Path(f"{path}-wal") if how in ("wal_truncated", "wal_flip") else path
    data = bytearray(target.read_bytes()) if target.exists() else bytearray()
    size = len(data)
    if how in ("flip", "wal_flip") and size:
        count = rng.randint(1, 8)
        for _ in range(count):
            data[rng.randrange(size)] ^= 1 << rng.randrange(8)
        what = f"{count} bit(s) flipped in {target.name}"
    elif how in ("flip_path", "flip_job_id") and size:
        texts = _stored_text(path, how)
        text = rng.choice(texts) if texts else b""
        places = _places(bytes(data), text, how) if text else []
        if not places:
            return f"{how}: nothing to damage"
        offset = rng.randrange(len(text))
        bit = rng.randrange(8)
        data[rng.choice(places) + offset] ^= 1 << bit
        kind = "path" if how == "flip_path" else "job id"
        what = f"bit {bit} of byte {offset} flipped in the stored {kind} {text.decode()[:70]!r}"
    elif how in ("page", "zero_page") and size:
        page = rng.randrange(max(1, size // PAGE))
        start, end = page * PAGE, min(size, (page + 1) * PAGE)
        fill = bytes(end - start) if how == "zero_page" else rng.randbytes(end - start)
        data[start:end] = fill
        what = f"page {page + 1} {'zeroed' if how == 'zero_page' else 'overwritten'}"
    elif how == "header" and size:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(min(100, size))] = rng.randrange(256)
        what = "database header damaged"
    elif how in ("truncate", "wal_truncated"):
        cut = rng.randrange(size) if size else 0
        data = data[:cut]
        what = f"{target.name} cut to {cut} of {size} bytes"
    elif how == "truncate_page":
        cut = PAGE * rng.randrange(max(1, size // PAGE))
        data = data[:cut]
        what = f"cut to {cut // PAGE} whole page(s)"
    elif how == "empty":
        data = bytearray()
        what = "emptied"
    elif how == "append":
        data += rng.randbytes(rng.randint(1, 3 * PAGE))
        what = "garbage appended"
    elif how == "wal_missing":
        Path(f"{path}-wal").unlink(missing_ok=True)
        return "copied without its -wal file"
    else:
        return f"{how}: nothing to damage"
    target.write_bytes(bytes(data))
    return what

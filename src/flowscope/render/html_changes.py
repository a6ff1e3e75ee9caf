"""The report's sections on changes: the journal of `flowscope tune --apply` (what was changed,
when, by whom, and what the check found), and the comparison of two windows (`flowscope
diff`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowscope.analysis.diff import Pair, WindowDiff, rate_moved, ratio_moved
from flowscope.render.diff import headline
from flowscope.render.svg_charts import esc
from flowscope.render.terminal import rate

STEP_WORDS = {"apply": "applied", "verify": "verified", "rollback": "rolled back"}


def _utc(t: Any) -> str:
    from flowscope.render.html import utc

    try:
        return utc(float(t))
    except (TypeError, ValueError):
        return "?"


def _changed(entry: dict[str, Any]) -> str:
    """`name old → new` for each vertex the step changed."""
    old, new = entry.get("parallelism_before"), entry.get("parallelism_after")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ""
    return ", ".join(f"{k} {old.get(k)} → {v}" for k, v in new.items() if old.get(k) != v)


def changes_section(entries: Sequence[dict[str, Any]]) -> str:
    """The journal's entries, oldest first (nothing when there are none)."""
    if not entries:
        return ""
    rows = []
    for e in entries:
        step = str(e.get("step", ""))
        what = ""
        if step in ("apply", "rollback"):
            what = esc(_changed(e))
            if isinstance(e.get("rescale_s"), int | float):
                what += f"; rescaled in {e['rescale_s']:.1f} s" if e.get("rescaled") else (
                    "; did not rescale")
        elif step == "verify":
            v = e.get("verification") if isinstance(e.get("verification"), dict) else {}
            assert isinstance(v, dict)
            what = f"<b>{esc(e.get('effect', ''))}</b>"
            if v.get("predicted_per_s") is not None and v.get("measured_per_s") is not None:
                what += (f": predicted {esc(rate(v['predicted_per_s']))}, measured "
                         f"{esc(rate(v['measured_per_s']))} records/s")
            if isinstance(e.get("apply_to_verdict_s"), int | float):
                what += f" ({e['apply_to_verdict_s']:.0f} s after the change)"
        rows.append(f"<tr><td>{esc(_utc(e.get('t')))}</td>"
                    f"<td class=\"l\">{esc(STEP_WORDS.get(step, step))}</td>"
                    f"<td class=\"l wrap\">{what}</td>"
                    f"<td class=\"l\">{esc(str(e.get('user', '')))}</td></tr>")
    return ('<section id="changes"><h2>Changes applied</h2><table><tr><th>when</th>'
            '<th class="l">step</th><th class="l">what</th><th class="l">who</th></tr>'
            f"{''.join(rows)}</table></section>")


def _cell(p: Pair, ratio: bool) -> str:
    def one(x: float | None) -> str:
        if x is None:
            return "-"
        return f"{100 * x:.0f}%" if ratio else rate(x)

    moved = ratio_moved(p) if ratio else rate_moved(p)
    text = f"{one(p.before)} → {one(p.after)}"
    return f"<td><b>{esc(text)}</b></td>" if moved else f'<td class="muted">{esc(text)}</td>'


def diff_section(d: WindowDiff, title: str) -> str:
    """Two windows side by side: per task before → after, changes beyond noise in bold."""
    rows = "".join(
        f"<tr><td class=\"l\">{esc(t.name)}</td><td>{t.parallelism[0]} → {t.parallelism[1]}"
        f"</td>{_cell(t.busy, True)}{_cell(t.backpressured, True)}{_cell(t.idle, True)}"
        f"{_cell(t.records_in_per_s, False)}{_cell(t.records_out_per_s, False)}</tr>"
        for t in d.tasks)
    causes = "".join(f"<li>{esc(c.cause)} appeared on {esc(c.vertex_name or 'the job')}</li>"
                     for c in d.appeared)
    causes += "".join(f"<li>{esc(c.cause)} went away from {esc(c.vertex_name or 'the job')}"
                      "</li>" for c in d.gone)
    quiet = "<p>No change beyond noise.</p>" if d.within_noise else ""
    return (f'<section id="diff"><h2>{esc(title)}</h2><p>{esc(headline(d))}</p>{quiet}'
            '<table><tr><th class="l">task</th><th>parallelism</th><th>busy</th>'
            "<th>backpressured</th><th>idle</th><th>in/s</th><th>out/s</th></tr>"
            f"{rows}</table>" + (f"<ul>{causes}</ul>" if causes else "") + "</section>")

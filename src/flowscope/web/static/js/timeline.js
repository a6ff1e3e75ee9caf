// Per-task timelines (uPlot): busy / backpressured / idle per metric refresh, with the time
// cursor drawn across every chart. Clicking a chart moves the cursor there.
"use strict";

(function (FS) {
  let charts = [];
  let signature = "";
  let cursorT = null;
  let marks = []; // changes `flowscope tune --apply` journaled: {t, step, effect}
  const MARK_COLOUR = { apply: "#1c7ed6", rollback: "#e8590c", verify: "#2b8a3e" };

  // A dashed line at each journaled change, labelled with its step.
  function drawMarks(u) {
    const ctx = u.ctx;
    const dpr = window.devicePixelRatio || 1;
    for (const m of marks) {
      const x = u.valToPos(m.t, "x", true);
      if (!Number.isFinite(x) || x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.save();
      ctx.strokeStyle = MARK_COLOUR[m.step] || "#868e96";
      ctx.fillStyle = ctx.strokeStyle;
      ctx.lineWidth = 1.5 * dpr;
      ctx.setLineDash([4 * dpr, 3 * dpr]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.font = `${10 * dpr}px sans-serif`;
      ctx.fillText(m.effect ? `${m.step}: ${m.effect}` : m.step, x + 3 * dpr, u.bbox.top + 10 * dpr);
      ctx.restore();
    }
  }

  function drawCursor(u) {
    if (cursorT === null) return;
    const x = u.valToPos(cursorT, "x", true);
    if (!Number.isFinite(x)) return;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#f08c00";
    ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  function chartData(timeline, vid) {
    const s = timeline.tasks[vid] || {};
    const empty = timeline.t.map(() => null);
    return [timeline.t, s.busy || empty, s.backpressured || empty, s.idle || empty];
  }

  function makeChart(wrap, timeline, vid, width, onPick) {
    const c = timeline.colours;
    const opts = {
      width, height: 96,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: true }, y: { range: [0, 1] } },
      series: [
        {},
        { label: "busy", stroke: c.busy, width: 1.5 },
        { label: "backpressured", stroke: c.backpressured, width: 1.5 },
        { label: "idle", stroke: c.idle, width: 1.5 },
      ],
      axes: [
        { size: 28, font: "11px sans-serif" },
        { size: 46, font: "11px sans-serif", splits: () => [0, 0.5, 1],
          values: (u, vals) => vals.map((v) => `${Math.round(v * 100)}%`) },
      ],
      hooks: { draw: [drawMarks, drawCursor] },
    };
    const u = new uPlot(opts, chartData(timeline, vid), wrap);
    u.over.addEventListener("click", () => {
      const idx = u.cursor.idx;
      if (idx !== null && idx !== undefined) onPick(timeline.t[idx]);
    });
    return u;
  }

  // (Re)draw one chart per vertex of `graph` from `timeline` (/api/jobs/{key}/timeline).
  FS.drawTimelines = function (container, key, graph, timeline, onPick) {
    marks = timeline.marks || [];
    const sig = `${key}|${graph.vertices.map((v) => v.id).join(",")}`;
    const width = Math.max(240, container.clientWidth - 8);
    if (sig === signature && charts.length) {
      charts.forEach(({ u, vid }) => u.setData(chartData(timeline, vid)));
      return;
    }
    charts.forEach(({ u }) => u.destroy());
    charts = [];
    signature = sig;
    FS.clear(container);
    if (!timeline.t.length) {
      container.appendChild(FS.el("p", { class: "muted" },
        "No interval yet: Flink refreshes metrics about every 10 s."));
      signature = "";
      return;
    }
    for (const v of graph.vertices) {
      const wrap = FS.el("div", { class: "chart", dataset: { vertex: v.id } },
        FS.el("div", { class: "chart-title" }, v.name));
      container.appendChild(wrap);
      charts.push({ vid: v.id, u: makeChart(wrap, timeline, v.id, width, onPick) });
    }
  };

  FS.setTimelineCursor = function (t) {
    cursorT = t;
    charts.forEach(({ u }) => u.redraw(false));
  };

  window.addEventListener("resize", () => {
    const container = document.getElementById("timelines");
    if (!container) return;
    const width = Math.max(240, container.clientWidth - 8);
    charts.forEach(({ u }) => u.setSize({ width, height: 96 }));
  });
})(window.FS);

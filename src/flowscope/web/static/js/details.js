// The side panel: a task's subtasks and findings, or the job's verdict and all findings.
"use strict";

(function (FS) {
  const el = FS.el;

  function findingCard(f) {
    const evidence = (f.evidence || []).map((e) => el("tr", {},
      el("td", {}, e.subject), el("td", {}, String(e.metric).replace(/_/g, "_\u200b")),
      el("td", { class: "num" }, `${FS.num(e.value, 3)} ${e.unit}`),
      el("td", { class: "num" }, `${Math.round(e.window_s)} s`), el("td", {}, e.why)));
    const actions = (f.actions || []).map((a) => el("li", {}, a.text,
      Object.entries(a.config || {}).map(([k, v]) => el("code", { class: "cfg" }, `${k}: ${v}`)),
      Object.entries(a.parallelism || {}).map(([k, v]) =>
        el("code", { class: "cfg" }, `${k} \u2192 parallelism ${v}`))));
    const where = [];
    if ((f.subtasks || []).length) where.push(`subtask(s) ${f.subtasks.join(", ")}`);
    if ((f.taskmanagers || []).length) where.push(`on ${f.taskmanagers.join(", ")}`);
    return el("article", { class: `finding${f.is_bottleneck ? " is-bottleneck" : ""}`,
      dataset: { cause: f.cause } },
      el("h3", {}, el("span", { class: "cause" }, FS.causeText(f.cause)),
        f.vertex_name ? el("span", { class: "muted" }, ` \u00b7 ${f.vertex_name}`) : null,
        f.is_bottleneck ? el("span", { class: "pill" }, "bottleneck") : null),
      el("p", { class: "summary" }, f.summary),
      where.length ? el("p", { class: "muted" }, where.join(" ")) : null,
      evidence.length ? el("details", { open: true }, el("summary", {}, "evidence"),
        el("table", { class: "evidence" }, el("thead", {}, el("tr", {},
          el("th", {}, "subject"), el("th", {}, "metric"), el("th", {}, "value"),
          el("th", {}, "window"), el("th", {}, "why"))), el("tbody", {}, evidence))) : null,
      actions.length ? el("div", { class: "actions" }, el("h4", {}, "what to do"),
        el("ul", {}, actions)) : null);
  }

  function subtaskTable(task) {
    const subs = task.subtasks || [];
    const totalIn = subs.reduce((s, st) => s + (st.records_in_per_s || 0), 0);
    const maxIn = Math.max(0, ...subs.map((st) => st.records_in_per_s || 0));
    const maxBusy = Math.max(0, ...subs.map((st) => st.busy || 0));
    const rows = subs.map((st) => {
      const share = totalIn > 0 && st.records_in_per_s !== null ? st.records_in_per_s / totalIn : null;
      const inBar = FS.el("span", { class: "bar-fill rate" });
      inBar.style.width = `${maxIn > 0 ? ((st.records_in_per_s || 0) / maxIn) * 100 : 0}%`;
      const hot = subs.length > 1 && st.busy !== null && st.busy === maxBusy && maxBusy >= 0.5;
      return el("tr", { class: hot ? "hot" : null, dataset: { subtask: st.index } },
        el("td", { class: "num" }, String(st.index)),
        el("td", { class: "tm", title: st.taskmanager }, st.taskmanager || "?"),
        el("td", {}, FS.bar(st.busy, "busy")),
        el("td", {}, FS.bar(st.backpressured, "bp")),
        el("td", {}, FS.bar(st.idle, "idle")),
        el("td", { class: "num" }, el("span", { class: "bar" },
          el("span", { class: "bar-track" }, inBar),
          el("span", { class: "bar-text" }, FS.rate(st.records_in_per_s)))),
        el("td", { class: "num" }, share === null ? "n/a" : FS.pct(share)),
        el("td", { class: "num" }, FS.rate(st.records_out_per_s)),
        el("td", { class: "num" }, `${FS.pct(st.in_pool_usage)} / ${FS.pct(st.out_pool_usage)}`));
    });
    return el("table", { class: "subtasks" },
      el("thead", {}, el("tr", {}, [["#", "subtask index"], ["TaskManager", null],
        ["busy", "share of time busy"], ["bp", "share of time backpressured"],
        ["idle", "share of time idle"], ["in", "records received per second"],
        ["share", "share of the task's input"], ["out", "records emitted per second"],
        ["buffers", "input / output buffer pool usage"]]
        .map(([h, title]) => el("th", { title }, h)))),
      el("tbody", {}, rows));
  }

  function taskPanel(view, task) {
    const d = view.diagnosis;
    const findings = d.findings.filter((f) => f.vertex_id === task.vertex_id);
    return [
      el("h2", { class: "task-name" }, task.name),
      el("p", { class: "muted" }, `parallelism ${task.parallelism} (max ${task.max_parallelism})`,
        ` \u00b7 backpressure ${task.level} \u00b7 inputs ${(task.ship_strategies || []).join(", ") || "none"}`),
      el("div", { class: "task-ratios" },
        el("span", {}, "busy ", FS.bar(task.busy, "busy")),
        el("span", {}, "backpressured ", FS.bar(task.backpressured, "bp")),
        el("span", {}, "idle ", FS.bar(task.idle, "idle"))),
      el("p", {}, `records in ${FS.rate(task.records_in_per_s)}, out ${FS.rate(task.records_out_per_s)}`,
        task.true_rate_per_subtask !== null
          ? ` \u00b7 true processing rate ${FS.rate(task.true_rate_per_subtask)} per subtask` : ""),
      el("h3", {}, "Subtasks ", el("span", { class: "muted" },
        "(ratios of time over the window; buffers = pool usage)")),
      subtaskTable(task),
      el("h3", {}, findings.length ? "Findings" : "No finding for this task"),
      findings.map(findingCard),
    ];
  }

  function jobPanel(view, onSelect) {
    const d = view.diagnosis;
    const bottlenecks = d.findings.filter((f) => f.is_bottleneck);
    const others = d.findings.filter((f) => !f.is_bottleneck);
    return [
      el("h2", {}, view.name),
      el("p", {}, el("span", { class: `badge ${d.verdict}` }, d.verdict),
        ` confidence ${d.confidence} \u00b7 counters cover ${Math.round(d.window_s)} s`,
        d.uptime_s !== null ? ` \u00b7 job up ${Math.round(d.uptime_s)} s` : ""),
      (d.notes || []).length ? el("ul", { class: "notes" }, d.notes.map((n) => el("li", {}, n))) : null,
      el("h3", {}, "Tasks ", el("span", { class: "muted" }, "(click one, here or in the graph)")),
      el("ul", { class: "task-list" }, d.tasks.map((t) => el("li", {},
        el("button", { type: "button", class: "link", onclick: () => onSelect(t.vertex_id) }, t.name),
        ` busy ${FS.pct(t.busy)} \u00b7 bp ${FS.pct(t.backpressured)}`))),
      el("h3", {}, bottlenecks.length ? "Bottlenecks" : "No bottleneck"),
      bottlenecks.map(findingCard),
      others.length ? el("h3", {}, "Other findings") : null,
      others.map(findingCard),
    ];
  }

  // Fill `container` for the task `vertexId` of `view` (or the whole job when it is null).
  FS.renderDetails = function (container, view, vertexId, onSelect) {
    FS.clear(container);
    if (!view || !view.diagnosis) {
      container.appendChild(el("p", { class: "muted" }, "No data for this job yet."));
      return;
    }
    const task = view.diagnosis.tasks.find((t) => t.vertex_id === vertexId);
    const parts = task ? taskPanel(view, task) : jobPanel(view, onSelect);
    if (task) {
      container.appendChild(el("button", { type: "button", class: "link back",
        onclick: () => onSelect(null) }, "\u2190 whole job"));
    }
    for (const p of parts.flat()) if (p) container.appendChild(p);
  };
})(window.FS);

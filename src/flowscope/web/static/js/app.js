// The page: the job list, the selected job (graph, details, timelines), the time cursor, and
// the server-sent events that keep it all current without reloading.
"use strict";

(function (FS) {
  const $ = (id) => document.getElementById(id);
  const el = FS.el;
  const state = {
    summary: null, // /api/jobs body (also each `jobs` event)
    key: null, // selected job
    vertex: null, // selected task, or null for the whole job
    at: null, // epoch seconds the cursor is at; null follows the newest sample
    view: null, // /api/jobs/{key}
    timeline: null, // /api/jobs/{key}/timeline
    askedVersion: null, // the job's version when its view was last requested
    loading: false,
    again: false,
    fleet: false, // the fleet page instead of one job
    sort: { col: "severity", desc: false },
  };

  function currentJob() {
    return (state.summary ? state.summary.jobs : []).find((j) => j.key === state.key) || null;
  }

  function saveHash() {
    if (state.fleet) {
      history.replaceState(null, "", `${location.pathname}${location.search}#fleet`);
      return;
    }
    const q = new URLSearchParams();
    if (state.key) q.set("job", state.key);
    if (state.vertex) q.set("task", state.vertex);
    history.replaceState(null, "", `${location.pathname}${location.search}#${q.toString()}`);
  }

  function selectJob(key) {
    if (key === state.key && !state.fleet) return;
    showFleet(false);
    Object.assign(state, { key, vertex: null, at: null, view: null, timeline: null, askedVersion: null });
    saveHash();
    renderSidebar();
    refresh();
  }

  function selectVertex(vid) {
    state.vertex = vid;
    saveHash();
    render();
  }

  function moveCursor(t) {
    const times = state.view ? state.view.times : [];
    if (!times.length) return;
    const last = times[times.length - 1];
    const job = currentJob();
    // The newest moment of a job that is still polled means "follow it".
    state.at = t === null || (t >= last && job && job.polling) ? null : t;
    refresh();
  }

  // Fetch the selected job (at the cursor) and its timeline; one request pair at a time.
  async function refresh() {
    const job = currentJob();
    if (!state.key || (job && !job.polls)) return; // a live job before its first poll
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    state.askedVersion = job ? job.version : null;
    const key = state.key;
    try {
      const [view, timeline] = await Promise.all([
        FS.getJSON(`api/jobs/${encodeURIComponent(key)}`, { at: state.at }),
        FS.getJSON(`api/jobs/${encodeURIComponent(key)}/timeline`),
      ]);
      if (key === state.key) {
        Object.assign(state, { view, timeline });
        render();
      }
    } catch (err) {
      showProblem(`could not load the job: ${err.message}`);
    } finally {
      state.loading = false;
      if (state.again) { state.again = false; refresh(); }
    }
  }

  function showProblem(text) {
    FS.clear($("graph")).appendChild(el("p", { class: "problem" }, text));
  }

  function renderSidebar() {
    const nav = FS.clear($("sources"));
    const s = state.summary;
    if (!s) return;
    for (const src of s.sources) {
      const jobs = s.jobs.filter((j) => j.source.id === src.id);
      nav.appendChild(el("h2", { title: src.label },
        el("span", { class: `kind ${src.kind}` }, src.kind === "live" ? "live" : "file"), src.label));
      if (src.error) nav.appendChild(el("p", { class: "problem small" }, src.error));
      const list = el("ul", { class: "jobs" });
      for (const j of jobs) {
        const meta = [j.polling ? "live" : (j.source.kind === "live" ? j.job_state || "ended" : "recording"),
          `${j.polls} polls`];
        if (j.last_t) meta.push(FS.time(j.last_t));
        list.appendChild(el("li", {}, el("button", {
          type: "button", class: `job${j.key === state.key ? " selected" : ""}`,
          dataset: { key: j.key }, onclick: () => selectJob(j.key),
        },
        el("span", { class: `dot ${j.verdict || "none"}`, title: j.verdict || "no verdict yet" }),
        el("span", { class: "job-name" }, j.name),
        el("span", { class: "job-meta" }, meta.join(" \u00b7 ")),
        j.bottlenecks.map((b) => el("span", { class: "job-neck" },
          `${b.vertex_name}: ${FS.causeText(b.cause)}`)),
        j.error ? el("span", { class: "problem small" }, j.error) : null)));
      }
      if (!jobs.length && !src.error) list.appendChild(el("li", { class: "muted" }, "waiting for jobs\u2026"));
      nav.appendChild(list);
    }
  }

  // -- the fleet page: every job as a row, sortable, each row opening the job ---------------

  const FLEET_COLUMNS = [
    { col: "name", label: "job", value: (j) => j.name.toLowerCase() },
    { col: "source", label: "source", value: (j) => j.source.label.toLowerCase() },
    { col: "severity", label: "verdict", value: (j) => [j.severity, -(j.backpressured || 0), -(j.busy || 0)] },
    { col: "bottleneck", label: "bottleneck", value: (j) => (j.bottlenecks[0] || {}).vertex_name || "~" },
    { col: "cause", label: "cause", value: (j) => (j.bottlenecks[0] || {}).cause || "~" },
    { col: "busy", label: "busy", value: (j) => -(j.busy ?? -1), num: true },
    { col: "backpressured", label: "backpressured", value: (j) => -(j.backpressured ?? -1), num: true },
    { col: "tasks", label: "tasks", value: (j) => j.tasks.length },
    { col: "action", label: "action", value: (j) => j.action || "~" },
    { col: "last_t", label: "updated", value: (j) => -(j.last_t || 0) },
  ];

  function compare(a, b) {
    const x = Array.isArray(a) ? a : [a];
    const y = Array.isArray(b) ? b : [b];
    for (let i = 0; i < x.length; i++) {
      if (x[i] < y[i]) return -1;
      if (x[i] > y[i]) return 1;
    }
    return 0;
  }

  function showFleet(on) {
    state.fleet = on;
    $("main").classList.toggle("fleet-mode", on);
    $("fleet").hidden = !on;
    if (on) {
      state.key = null;
      $("job-title").textContent = "every job";
      $("verdict").hidden = true;
      $("freshness").textContent = "";
      saveHash();
      renderSidebar();
      renderFleet();
    }
  }

  function renderFleet() {
    const table = FS.clear($("fleet-table"));
    const jobs = (state.summary ? state.summary.jobs : []).slice();
    const column = FLEET_COLUMNS.find((c) => c.col === state.sort.col) || FLEET_COLUMNS[2];
    jobs.sort((a, b) => compare(column.value(a), column.value(b)) || compare(a.name, b.name));
    if (state.sort.desc) jobs.reverse();
    table.appendChild(el("thead", {}, el("tr", {}, FLEET_COLUMNS.map((c) => el("th", {
      class: c.col === column.col ? `sorted${state.sort.desc ? " desc" : ""}` : "",
      dataset: { col: c.col },
      onclick: () => {
        state.sort = { col: c.col, desc: state.sort.col === c.col ? !state.sort.desc : false };
        renderFleet();
      },
    }, c.label)))));
    const body = el("tbody", {});
    for (const j of jobs) {
      const neck = j.bottlenecks[0];
      const where = neck ? neck.vertex_name + (j.subtasks.length && j.subtasks.length <= 4
        && ["data-skew", "slow-instance"].includes(neck.cause) ? ` [${j.subtasks.join(", ")}]` : "") : "";
      body.appendChild(el("tr", { class: "row", dataset: { key: j.key }, onclick: () => selectJob(j.key) },
        el("td", {}, el("span", { class: `dot ${j.verdict || "none"}` }), " ", j.name),
        el("td", { class: "muted" }, j.source.label),
        el("td", {}, el("span", { class: `badge ${j.verdict || "unknown"}` }, j.verdict || "waiting")),
        el("td", {}, where),
        el("td", {}, neck ? FS.causeText(neck.cause) : ""),
        el("td", { class: "num" }, j.busy === null ? "" : FS.pct(j.busy)),
        el("td", { class: "num" }, FS.pct(j.backpressured)),
        el("td", { class: "boxes" }, j.tasks.map((t) => el("span", {
          class: "task-box", title: `${t.name}: busy ${FS.pct(t.busy)}, backpressured ${FS.pct(t.backpressured)}, idle ${FS.pct(t.idle)}`,
          style: `background:${t.fill};border-color:${t.stroke}`,
        }))),
        el("td", {}, j.action || ""),
        el("td", { class: "muted" }, j.last_t ? FS.time(j.last_t) : ""),
        ));
    }
    if (!jobs.length) body.appendChild(el("tr", {}, el("td", { colspan: FLEET_COLUMNS.length, class: "muted" }, "No job to show yet.")));
    table.appendChild(body);
  }

  function renderHeader() {
    const job = currentJob();
    const view = state.view;
    $("job-title").textContent = view ? view.name : (job ? job.name : "no job selected");
    const verdict = $("verdict");
    const d = view && view.diagnosis;
    verdict.hidden = !d;
    if (d) {
      verdict.textContent = d.verdict;
      verdict.className = `badge ${d.verdict}`;
    }
    $("freshness").textContent = job && job.last_t
      ? `${job.polling ? "last poll" : "last sample"} ${FS.time(job.last_t)} \u00b7 ${job.polls} polls` : "";
    if (job && job.error) $("freshness").textContent += ` \u00b7 ${job.error}`;
  }

  function renderCursor() {
    const times = state.view ? state.view.times : [];
    const slider = $("cursor");
    slider.max = String(Math.max(0, times.length - 1));
    slider.disabled = times.length < 2;
    let idx = times.length - 1;
    if (state.at !== null) {
      idx = times.findIndex((t) => t >= state.at - 1e-6);
      if (idx < 0) idx = times.length - 1;
    }
    slider.value = String(Math.max(0, idx));
    const job = currentJob();
    const shown = state.at !== null ? state.at : (times.length ? times[times.length - 1] : null);
    let label = shown ? FS.time(shown) : "";
    if (state.at === null) label += job && job.polling ? " \u00b7 now (following)" : " \u00b7 end";
    else if (times.length) label += ` \u00b7 ${Math.round(times[times.length - 1] - state.at)} s before the newest`;
    $("cursor-label").textContent = label;
    $("cursor-live").hidden = state.at === null;
    FS.setTimelineCursor(shown);
  }

  function render() {
    renderHeader();
    renderSidebar();
    const view = state.view;
    if (!view) return;
    if (state.vertex && !view.graph.vertices.some((v) => v.id === state.vertex)) state.vertex = null;
    FS.drawGraph($("graph"), view.graph, state.vertex, selectVertex);
    FS.renderDetails($("details"), view, state.vertex, selectVertex);
    if (state.timeline) {
      FS.drawTimelines($("timelines"), state.key, view.graph, state.timeline, (t) => moveCursor(t));
    }
    renderCursor();
  }

  function onJobs(summary) {
    state.summary = summary;
    if (state.fleet) {
      renderSidebar();
      renderFleet();
      return;
    }
    if (!state.key && summary.jobs.length > 1) { showFleet(true); return; }
    if (!state.key || !currentJob()) {
      const first = summary.jobs[0];
      if (first) { selectJob(first.key); return; }
    }
    const job = currentJob();
    renderSidebar();
    renderHeader();
    if (job && !job.polls && !state.view) showProblem("Waiting for the first poll\u2026");
    if (job && job.version !== state.askedVersion) refresh();
    if (!summary.jobs.length) showProblem("No job to show yet.");
  }

  function connect() {
    const conn = $("connection");
    const es = new EventSource(FS.url("api/events"));
    es.addEventListener("open", () => { conn.textContent = "connected"; conn.className = "conn ok"; });
    es.addEventListener("error", () => { conn.textContent = "reconnecting"; conn.className = "conn down"; });
    es.addEventListener("jobs", (ev) => onJobs(JSON.parse(ev.data)));
  }

  function wireCursor() {
    const slider = $("cursor");
    let timer = null;
    slider.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const times = state.view ? state.view.times : [];
        const t = times[Number(slider.value)];
        if (t !== undefined) moveCursor(t);
      }, 120);
    });
    const step = (delta) => {
      const times = state.view ? state.view.times : [];
      const idx = Math.min(times.length - 1, Math.max(0, Number(slider.value) + delta));
      if (times.length) moveCursor(times[idx]);
    };
    $("cursor-prev").addEventListener("click", () => step(-1));
    $("cursor-next").addEventListener("click", () => step(1));
    $("cursor-live").addEventListener("click", () => moveCursor(null));
  }

  async function start() {
    const hash = new URLSearchParams(location.hash.slice(1));
    state.key = hash.get("job");
    state.vertex = hash.get("task");
    if (hash.has("fleet")) showFleet(true);
    $("to-fleet").addEventListener("click", (ev) => { ev.preventDefault(); showFleet(true); });
    wireCursor();
    try {
      onJobs(await FS.getJSON("api/jobs"));
    } catch (err) {
      showProblem(`could not reach flowscope: ${err.message}`);
    }
    connect();
  }

  start();
})(window.FS);

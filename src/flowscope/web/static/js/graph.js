// The job graph, laid out left to right by dagre like Flink's web UI. Colours, rates and the
// bottleneck marks come from the server; this file only places and draws them.
"use strict";

(function (FS) {
  const NODE_W = 236;
  const NODE_H = 76;
  const BADGE_H = 20;
  const NAME_CHARS = 30;
  const MIN_SCALE = 0.75;

  function shorten(name) {
    return name.length > NAME_CHARS ? `${name.slice(0, NAME_CHARS - 1)}\u2026` : name;
  }

  function layout(graph) {
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: "LR", nodesep: 30, ranksep: 60, edgesep: 24, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const v of graph.vertices) {
      g.setNode(v.id, { width: NODE_W, height: NODE_H + (v.bottleneck ? BADGE_H : 0) });
    }
    graph.edges.forEach((e, i) => {
      g.setEdge(e.source, e.target, { width: 96, height: 34, labelpos: "c" }, `e${i}`);
    });
    dagre.layout(g);
    return g;
  }

  function drawEdge(g, e, i) {
    const info = g.edge({ v: e.source, w: e.target, name: `e${i}` });
    const d = info.points.map((p, k) => `${k ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`)
      .join(" ");
    const rate = e.records_per_s === null ? "" : FS.rate(e.records_per_s).replace("/s", " rec/s");
    return FS.svg("g", { class: "edge", dataset: { source: e.source, target: e.target } },
      FS.svg("path", { d, "marker-end": "url(#fs-arrow)" }),
      FS.svg("text", { x: info.x, y: info.y - 4, class: "edge-strategy" }, e.ship_strategy),
      FS.svg("text", { x: info.x, y: info.y + 11, class: "edge-rate" }, rate));
  }

  function drawNode(g, v, selected, onSelect) {
    const n = g.node(v.id);
    const x = n.x - n.width / 2;
    const y = n.y - n.height / 2;
    const group = FS.svg("g", {
      class: `node${v.id === selected ? " selected" : ""}${v.bottleneck ? " bottleneck" : ""}`,
      transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`, tabindex: 0, role: "button",
      dataset: { vertex: v.id, level: v.level, busy: v.busy ?? "", backpressured: v.backpressured ?? "" },
    });
    group.appendChild(FS.svg("title", {}, v.name));
    if (v.id === selected) {
      group.appendChild(FS.svg("rect", { class: "ring", x: -5, y: -5, width: n.width + 10,
        height: n.height + 10, rx: 8 }));
    }
    group.appendChild(FS.svg("rect", { class: "box", width: n.width, height: n.height, rx: 5,
      fill: v.fill, stroke: v.stroke, "stroke-width": v.bottleneck ? 4 : 2 }));
    const text = { fill: v.text };
    group.appendChild(FS.svg("text", { ...text, x: 10, y: 21, class: "node-name" }, shorten(v.name)));
    group.appendChild(FS.svg("text", { ...text, x: 10, y: 42, class: "node-line" },
      `parallelism ${v.parallelism} \u00b7 backpressure ${v.level}`));
    group.appendChild(FS.svg("text", { ...text, x: 10, y: 62, class: "node-line" },
      `busy ${FS.pct(v.busy)} \u00b7 bp ${FS.pct(v.backpressured)} \u00b7 idle ${FS.pct(v.idle)}`));
    if (v.bottleneck) {
      group.appendChild(FS.svg("rect", { class: "badge-box", x: 0, y: NODE_H - 2,
        width: n.width, height: BADGE_H + 2, rx: 4 }));
      group.appendChild(FS.svg("text", { x: 10, y: NODE_H + 13, class: "node-badge" },
        `\u25b2 bottleneck: ${FS.causeText(v.bottleneck)}`));
    }
    const choose = () => onSelect(v.id);
    group.addEventListener("click", choose);
    group.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(); }
    });
    return group;
  }

  // Draw `graph` ({vertices, edges} from /api/jobs/{key}) into `container`.
  FS.drawGraph = function (container, graph, selected, onSelect) {
    const g = layout(graph);
    const { width, height } = g.graph();
    // Shrink a wide graph to fit, but not below MIN_SCALE: past that the container scrolls.
    const room = container.clientWidth || width;
    const scale = Math.min(1, Math.max(MIN_SCALE, room / width));
    const svg = FS.svg("svg", {
      class: "dag", viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
      width: Math.floor(width * scale), height: Math.floor(height * scale),
    });
    svg.appendChild(FS.svg("defs", {},
      FS.svg("marker", { id: "fs-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        FS.svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))));
    graph.edges.forEach((e, i) => svg.appendChild(drawEdge(g, e, i)));
    for (const v of graph.vertices) svg.appendChild(drawNode(g, v, selected, onSelect));
    FS.clear(container).appendChild(svg);
  };
})(window.FS);

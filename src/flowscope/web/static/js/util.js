// Shared helpers. Every name that comes from Flink reaches the page through el() or text
// nodes (textContent), never through innerHTML: an operator called <script> stays text.
"use strict";

window.FS = window.FS || {};

(function (FS) {
  const token = new URLSearchParams(window.location.search).get("token");

  // A relative URL (so the dashboard also works behind a path prefix) with the token, if any.
  FS.url = function (path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== null && v !== undefined) q.set(k, String(v));
    }
    if (token) q.set("token", token);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  };

  FS.getJSON = async function (path, params) {
    const resp = await fetch(FS.url(path, params), { cache: "no-store" });
    if (!resp.ok) {
      let detail = "";
      try { detail = (await resp.json()).error || ""; } catch (_) { /* not JSON */ }
      throw new Error(`${path}: ${resp.status} ${detail}`);
    }
    return resp.json();
  };

  // el("div", {class: "x", title: name}, "text", child, ...): strings become text nodes.
  FS.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  };

  FS.svg = function (tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  };

  FS.clear = function (node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  };

  FS.pct = (v) => (v === null || v === undefined ? "n/a" : `${Math.round(v * 100)}%`);

  FS.rate = function (v) {
    if (v === null || v === undefined) return "n/a";
    if (v >= 10000) return `${(v / 1000).toFixed(1)}k/s`;
    if (v >= 100) return `${Math.round(v)}/s`;
    return `${v.toFixed(1)}/s`;
  };

  FS.num = function (v, digits) {
    if (v === null || v === undefined) return "n/a";
    if (typeof v !== "number") return String(v);
    return Math.abs(v) >= 100 ? String(Math.round(v)) : v.toFixed(digits === undefined ? 2 : digits);
  };

  FS.time = function (t) {
    if (t === null || t === undefined) return "";
    return new Date(t * 1000).toLocaleTimeString([], { hour12: false });
  };

  FS.causeText = (cause) => String(cause || "").replace(/-/g, " ");

  // A ratio bar: a track with a filled part, the value as text beside it.
  FS.bar = function (value, kind) {
    const fill = FS.el("span", { class: `bar-fill ${kind}` });
    fill.style.width = `${Math.max(0, Math.min(1, value || 0)) * 100}%`;
    return FS.el("span", { class: "bar" }, FS.el("span", { class: "bar-track" }, fill),
      FS.el("span", { class: "bar-text" }, FS.pct(value)));
  };
})(window.FS);

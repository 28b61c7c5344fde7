// driftline live page: state pushed by the job over server-sent events (/events).
// Every value from the job is inserted with textContent or as a DOM property:
// never as HTML. The chart is drawn on a <canvas> by the small code below.
"use strict";

const KINDS = ["concept_drift", "data_drift", "prediction_drift", "estimated_accuracy",
  "model_reset", "challenger_started", "model_promoted", "challenger_dropped"];
const COLORS = ["#2b6cb0", "#805ad5", "#2c7a7b", "#dd6b20", "#b83280", "#4a5568"];
const MARKS = {
  concept_drift: "#c53030", data_drift: "#b7791f", prediction_drift: "#d69e2e",
  estimated_accuracy: "#c05621",
  model_promoted: "#2f855a", model_reset: "#6b46c1", challenger_started: "#3182ce",
  challenger_dropped: "#718096",
};

const state = { alerts: [], points: [], series: [], history: 500, other: null };
const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function num(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits ?? 0 });
}

function setStat(id, value, text) {
  const e = $(id);
  e.dataset.value = String(value);
  e.textContent = text;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function merge(msg) {
  if (msg.full) {
    state.alerts = msg.alerts;
    state.points = msg.points;
  } else {
    state.alerts = state.alerts.concat(msg.alerts);
    state.points = state.points.concat(msg.points);
  }
  state.history = msg.history;
  state.alerts = state.alerts.slice(-state.history);
  state.points = state.points.slice(-state.history);
  state.series = msg.series;
  state.other = msg;
  if (msg.alerts.length || msg.full) renderAlerts();
  renderStats(msg);
  renderChart();
  renderVersions(msg.versions);
  renderDrift(msg.data_drift);
  renderDeadLetters(msg.dead_letters);
  renderConfig(msg.config, msg.finished);
}

// ------------------------------------------------------------------ figures

function renderStats(msg) {
  const s = msg.stats || {};
  setStat("stat-scored", s.scored ?? 0, num(s.scored));
  setStat("stat-rate", s.rate ?? 0, num(s.rate));
  const lat = s.latency_ms || {};
  $("stat-latency").textContent = lat.mean == null ? "–"
    : `${num(lat.mean, 2)} ms` + (lat.p95 == null ? "" : ` · p95 ≤ ${num(lat.p95, 1)}`);
  $("stat-late").textContent = `${num(s.late)} · ${num(s.out_of_order)}`;
  $("stat-late").dataset.late = String(s.late ?? 0);
  setStat("stat-alerts", s.alerts ?? 0, num(s.alerts));
  setStat("stat-dead-letters", s.dead_letters ?? 0, num(s.dead_letters));
  const labels = msg.labels || {};
  let joined = 0, expired = 0;
  for (const per of Object.values(labels.by_model || {})) {
    joined += per.joined || 0;
    expired += per.expired || 0;
  }
  $("stat-labels").textContent = `${num(labels.pending)} · ${num(joined)} · ${num(expired)}`;
}

// ------------------------------------------------------------------ alerts

function statLine(a) {
  const s = a.statistic || {};
  const parts = [];
  for (const key of ["ks", "p_value", "reference_error", "recent_error", "estimate", "realized", "model_metric",
    "baseline_metric", "challenger_error", "champion_error", "from_version", "challenger_version"]) {
    if (s[key] !== undefined && s[key] !== null) {
      const v = s[key];
      parts.push(`${key} ${typeof v === "number" ? (key === "p_value" ? v.toExponential(1) : num(v, 3)) : v}`);
    }
  }
  return parts.join("  ·  ");
}

// what moved with a concept drift: the inputs furthest from their reference, the
// slices whose error rose most (names come from events: text only, via el())
function movedLine(s) {
  const parts = [];
  const moved = Array.isArray(s.moved_features) ? s.moved_features : [];
  if (moved.length) {
    parts.push("moved most: " + moved.map((m) => `${m.feature} (KS ${num(m.ks, 3)})`).join(", "));
  }
  const rising = Array.isArray(s.rising_slices) ? s.rising_slices : [];
  if (rising.length) {
    parts.push("error rose most: " + rising.map(
      (r) => `${r.slice} ${num(r.reference_error, 3)} → ${num(r.recent_error, 3)}`).join(", "));
  }
  return parts.join("  ·  ");
}

function alertItem(a) {
  const li = el("li", null, "alert");
  li.dataset.kind = a.kind;
  li.dataset.model = a.model;
  li.dataset.severity = a.severity;
  const head = el("div", null, "head");
  head.append(el("span", a.kind.replace(/_/g, " "), "kind"), el("span", a.severity, "sev"));
  let who = `${a.model}` + (a.segment != null ? `[${a.segment}]` : "") + ` v${a.version}`;
  if (a.slice != null) who += ` · ${a.slice}`;
  if (a.feature != null) who += ` · feature ${a.feature}`;
  head.append(el("span", who, "who"));
  li.append(head);
  const line = statLine(a);
  if (line) li.append(el("div", line, "stat-line"));
  const moved = movedLine(a.statistic || {});
  if (moved) li.append(el("div", moved, "stat-line moved"));
  li.append(el("div", `event ${a.event_id} · ${a.event_ts} · ${a.detector}`, "when"));
  li.title = a.text;
  return li;
}

function addOption(select, value) {
  for (const o of select.options) if (o.value === value) return;
  const o = document.createElement("option");
  o.value = value;
  o.textContent = value;
  select.append(o);
}

function renderAlerts() {
  const list = $("alerts");
  const kind = $("filter-kind"), model = $("filter-model");
  for (const a of state.alerts) {
    addOption(kind, a.kind);
    addOption(model, a.model);
  }
  clear(list);
  const shown = state.alerts.filter((a) => (!kind.value || a.kind === kind.value)
    && (!model.value || a.model === model.value));
  for (let i = shown.length - 1; i >= 0; i--) list.append(alertItem(shown[i]));
  if (!shown.length) list.append(el("li", state.alerts.length ? "no alert matches the filter" : "no alerts yet", "empty"));
}

// ------------------------------------------------------------------ chart

function drawnSeries() {
  const model = $("filter-model").value;
  const series = state.series.filter((s) => !model || s.model === model);
  return series.slice(0, COLORS.length);
}

function renderChart() {
  const canvas = $("accuracy-chart");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 900, h = canvas.clientHeight || 300;
  if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const series = drawnSeries();
  const pts = state.points.filter((p) => series.some((s) => p.v[s.key] !== undefined));
  canvas.dataset.points = String(pts.length);
  const legend = $("chart-legend");
  clear(legend);
  $("chart-metric").textContent = series.length ? `(${series[0].metric})` : "";
  const pad = { l: 46, r: 12, t: 10, b: 26 };
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#6b7785";
  if (!pts.length) {
    ctx.fillText("waiting for labelled events…", pad.l, h / 2);
    return;
  }
  let ymin = Infinity, ymax = -Infinity;
  for (const p of pts) for (const s of series) for (const v of p.v[s.key] || []) {
    if (v !== null) { ymin = Math.min(ymin, v); ymax = Math.max(ymax, v); }
  }
  if (!Number.isFinite(ymin)) { ymin = 0; ymax = 1; }
  const span = Math.max(ymax - ymin, 0.02);
  ymin -= span * 0.08; ymax += span * 0.08;
  const xmin = Math.min(pts[0].x, ...state.alerts.map((a) => a.x).filter((x) => x >= pts[0].x));
  const xmax = Math.max(pts[pts.length - 1].x, xmin + 1);
  const X = (x) => pad.l + ((x - xmin) / (xmax - xmin)) * (w - pad.l - pad.r);
  const Y = (y) => pad.t + (1 - (y - ymin) / (ymax - ymin)) * (h - pad.t - pad.b);
  // grid and axes
  ctx.strokeStyle = "#e3e7ec";
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = ymin + ((ymax - ymin) * i) / 4;
    ctx.beginPath(); ctx.moveTo(pad.l, Y(y)); ctx.lineTo(w - pad.r, Y(y)); ctx.stroke();
    ctx.fillText(y.toFixed(3), 4, Y(y) + 4);
  }
  for (let i = 0; i <= 4; i++) {
    const x = xmin + ((xmax - xmin) * i) / 4;
    ctx.fillText(num(x), Math.min(X(x) - 10, w - 50), h - 8);
  }
  // drift points of the built-in stream, then alerts and promotions
  const cfg = (state.other && state.other.config) || {};
  const drift = (cfg.builtin && cfg.builtin.drift_points) || [];
  ctx.setLineDash([4, 4]);
  ctx.strokeStyle = "#a0aec0";
  for (const d of drift) if (d >= xmin && d <= xmax) {
    ctx.beginPath(); ctx.moveTo(X(d), pad.t); ctx.lineTo(X(d), h - pad.b); ctx.stroke();
    ctx.fillText("drift", X(d) + 3, pad.t + 10);
  }
  ctx.setLineDash([]);
  const names = new Set(series.map((s) => s.model));
  const drawOrder = (a) => (a.kind === "concept_drift" ? 2 : a.kind === "data_drift" ? 1 : 0);
  for (const a of [...state.alerts].sort((p, q) => drawOrder(p) - drawOrder(q))) {
    if (!names.has(a.model) || a.x < xmin || a.slice != null) continue;
    ctx.fillStyle = MARKS[a.kind] || "#718096";
    const x = X(a.x);
    if (a.kind === "model_promoted" || a.kind === "model_reset") {
      ctx.fillRect(x - 1, pad.t, 2, h - pad.t - pad.b);
    } else {
      ctx.beginPath(); ctx.moveTo(x, h - pad.b); ctx.lineTo(x - 4, h - pad.b - 8); ctx.lineTo(x + 4, h - pad.b - 8); ctx.fill();
    }
  }
  // lines: the model solid, its baseline dashed
  series.forEach((s, i) => {
    for (const which of [1, 0]) {
      ctx.strokeStyle = COLORS[i];
      ctx.globalAlpha = which ? 0.55 : 1;
      ctx.setLineDash(which ? [5, 4] : []);
      ctx.lineWidth = which ? 1.5 : 2;
      ctx.beginPath();
      let started = false;
      for (const p of pts) {
        const v = (p.v[s.key] || [])[which];
        if (v === null || v === undefined) { started = false; continue; }
        if (started) ctx.lineTo(X(p.x), Y(v)); else { ctx.moveTo(X(p.x), Y(v)); started = true; }
      }
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
    const item = el("span");
    const sw = el("span", null, "swatch");
    sw.style.background = COLORS[i];
    const bw = el("span", null, "swatch dashed");
    bw.style.borderColor = COLORS[i];
    item.append(sw, document.createTextNode(`${s.key} `), bw, document.createTextNode(`baseline ${s.baseline}`));
    legend.append(item);
  });
  const keys = el("span", "▲ concept drift (red) · data drift (amber) · | promotion (green) · dashed grey: drift point of the stream");
  legend.append(keys);
}

// ------------------------------------------------------------------ tables

function row(cells, cls) {
  const tr = el("tr", null, cls);
  for (const c of cells) tr.append(c instanceof Node ? (() => { const td = el("td"); td.append(c); return td; })() : el("td", c));
  return tr;
}

function renderVersions(versions) {
  const body = $("versions").tBodies[0];
  clear(body);
  for (const v of versions || []) {
    const since = v.since ? `${v.since} (${v.how === "model_promoted" ? "promoted" : "reset"})` : "start of run";
    body.append(row([v.model, v.segment ?? "–", v.shard, `v${v.version}`, since]));
  }
}

function spark(history) {
  const c = document.createElement("canvas");
  c.className = "spark";
  c.width = 90; c.height = 20;
  const ctx = c.getContext("2d");
  const max = Math.max(0.2, ...history);
  ctx.strokeStyle = "#2b6cb0";
  ctx.beginPath();
  history.forEach((v, i) => {
    const x = history.length > 1 ? (i / (history.length - 1)) * 88 + 1 : 45;
    const y = 19 - (v / max) * 18;
    if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
  });
  ctx.stroke();
  return c;
}

function renderDrift(rows) {
  const body = $("data-drift").tBodies[0];
  clear(body);
  for (const r of rows || []) {
    body.append(row([r.model, r.feature, num(r.ks, 3),
      r.p_value == null ? "–" : Number(r.p_value).toExponential(1),
      `${num(r.reference_mean, 3)} → ${num(r.current_mean, 3)}`, spark(r.history || [])],
    r.drifted ? "drifted" : ""));
  }
}

function renderDeadLetters(dead) {
  const box = $("dead-letters");
  const reasons = box.querySelector(".reasons"), samples = box.querySelector(".samples");
  clear(reasons); clear(samples);
  const by = (dead && dead.by_reason) || {};
  const keys = Object.keys(by).sort();
  if (!keys.length) reasons.append(el("li", "none", "empty"));
  for (const k of keys) reasons.append(el("li", `${k}: ${num(by[k])}`));
  for (const s of (dead && dead.samples) || []) {
    const d = el("div", null, "sample");
    d.append(el("div", `${s.reason} · ${s.stage} · ${s.source} · ${s.ts}`, "muted"));
    d.append(el("div", s.error, "err"));
    d.append(el("pre", s.raw));
    samples.append(d);
  }
}

function renderConfig(cfg, finished) {
  const dl = $("config");
  clear(dl);
  const add = (k, v) => { dl.append(el("dt", k), el("dd", v)); };
  for (const m of cfg.models || []) {
    let text = `${m.definition_version} · baseline ${m.baseline} · target ${m.target} · ${m.shards} shard(s)`;
    if (m.segment_by) text += ` · segments by ${m.segment_by}`;
    if (m.slices) text += ` · slices ${m.slices.join(", ")}`;
    add(`model ${m.model}`, text);
    addOption($("filter-model"), m.model);
  }
  add("feature set", cfg.feature_version);
  add("source → sink", `${cfg.source} → ${cfg.sink}`);
  add("workers", `${cfg.workers}` + (cfg.process_id != null ? ` (process ${cfg.process_id})` : ""));
  if (cfg.builtin) add("built-in stream", `${num(cfg.builtin.events)} events, ${cfg.builtin.generator}, drift at ${cfg.builtin.drift_points.map((d) => num(d)).join(", ")}`);
  $("summary").textContent = (cfg.models || []).map((m) => m.model).join(", ") + ` · features ${cfg.feature_version}`;
  const status = $("status");
  status.dataset.state = finished ? "finished" : "live";
  status.textContent = finished ? "input ended" : "live";
}

// ------------------------------------------------------------------ wiring

function connect() {
  const source = new EventSource("/events");
  source.onmessage = (e) => merge(JSON.parse(e.data));
  source.onerror = () => {
    const status = $("status");
    if (status.dataset.state !== "finished") { status.dataset.state = "lost"; status.textContent = "reconnecting…"; }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const k of KINDS) addOption($("filter-kind"), k);
  $("filter-kind").addEventListener("change", renderAlerts);
  $("filter-model").addEventListener("change", () => { renderAlerts(); renderChart(); });
  window.addEventListener("resize", renderChart);
  connect();
});

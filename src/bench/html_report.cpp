// The --html report: one self-contained page. The report's JSON is embedded in a script
// element and drawn into inline SVG by the script below; no file or network is fetched.
#include <string>

#include "koorelease/bench/report.hpp"

namespace koorelease::bench {

namespace {

constexpr const char* page_head = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>koorelease bench report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 18px 0 4px; }
.sub { color: #555; margin-bottom: 8px; }
table { border-collapse: collapse; margin: 6px 0; } td, th { padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 24px; }
svg { background: #fcfcfc; border: 1px solid #ddd; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
.axis { stroke: #888; stroke-width: 1; } .gridline { stroke: #e6e6e6; stroke-width: 1; }
polyline { fill: none; stroke-width: 1.6; }
.p50 { stroke: #2b7bb9; } .p99 { stroke: #e08a00; } .max { stroke: #c62828; stroke-dasharray: 4 2; }
.spectrum { stroke: #6a3d9a; stroke-width: 2; } .dot { fill: #6a3d9a; }
.kind-ok { fill: #43a047; } .kind-rejected { fill: #8d6e63; } .kind-throttled { fill: #fb8c00; }
.kind-server_error { fill: #e53935; } .kind-token_rejected { fill: #5e35b1; } .kind-no_answer { fill: #212121; }
.held { color: #2e7d32; font-weight: 600; } .failed { color: #c62828; font-weight: 600; }
.legend span { display: inline-block; margin-right: 12px; } .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
</style></head><body>
<h1>koorelease bench</h1><div class="sub" id="subtitle"></div>
<div id="summary"></div>
<div class="grid">
<div><h2>Latency over time (per second of intended send time)</h2><svg id="latency-over-time" width="620" height="300"></svg>
<div class="legend"><span><i style="background:#2b7bb9"></i>p50</span><span><i style="background:#e08a00"></i>p99</span><span><i style="background:#c62828"></i>max</span></div></div>
<div><h2>Percentile spectrum</h2><svg id="spectrum" width="620" height="300"></svg></div>
<div><h2>Answers per second by kind</h2><svg id="answers" width="620" height="300"></svg><div class="legend" id="answers-legend"></div></div>
<div id="capacity"></div>
</div>
<script type="application/json" id="report-data">)html";

constexpr const char* page_tail = R"html(</script>
<script>
"use strict";
const R = JSON.parse(document.getElementById("report-data").textContent);
const NS = "http://www.w3.org/2000/svg";
const KINDS = ["ok", "rejected", "throttled", "server_error", "token_rejected", "no_answer"];
const COLORS = {ok: "#43a047", rejected: "#8d6e63", throttled: "#fb8c00", server_error: "#e53935", token_rejected: "#5e35b1", no_answer: "#212121"};
const M = {l: 66, r: 12, t: 10, b: 34};
function el(parent, name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  parent.appendChild(e);
  return e;
}
function fmtMs(v) { return v >= 1000 ? (v / 1000).toPrecision(3) + " s" : v >= 1 ? v.toPrecision(3) + " ms" : (v * 1000).toPrecision(3) + " us"; }
function logTicks(lo, hi) {
  const t = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) for (const m of [1, 2, 5]) t.push(m * Math.pow(10, e));
  return t;
}
// A frame with axes; x and y map data to pixels. ylog: logarithmic y.
function frame(svg, xmin, xmax, ymin, ymax, ylog, xlabel, ylabel, xticks, xfmt) {
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const pw = W - M.l - M.r, ph = H - M.t - M.b;
  if (xmax <= xmin) xmax = xmin + 1;
  if (ylog) { ymin = Math.max(ymin, 0.001); if (ymax <= ymin) ymax = ymin * 10; } else if (ymax <= ymin) ymax = ymin + 1;
  const ly = v => Math.log10(Math.max(v, ymin));
  const x = v => M.l + (v - xmin) / (xmax - xmin) * pw;
  const y = ylog ? v => M.t + ph - (ly(v) - ly(ymin)) / (ly(ymax) - ly(ymin)) * ph
                 : v => M.t + ph - (v - ymin) / (ymax - ymin) * ph;
  const yt = ylog ? logTicks(ymin, ymax).filter(v => v >= ymin && v <= ymax) : [0, 0.25, 0.5, 0.75, 1].map(f => ymin + f * (ymax - ymin));
  for (const v of yt) {
    el(svg, "line", {x1: M.l, x2: M.l + pw, y1: y(v), y2: y(v), class: "gridline"});
    el(svg, "text", {x: M.l - 4, y: y(v) + 4, "text-anchor": "end"}, ylog ? fmtMs(v) : Math.round(v));
  }
  for (const v of xticks) {
    el(svg, "line", {x1: x(v), x2: x(v), y1: M.t + ph, y2: M.t + ph + 4, class: "axis"});
    el(svg, "text", {x: x(v), y: M.t + ph + 16, "text-anchor": "middle"}, xfmt(v));
  }
  el(svg, "line", {x1: M.l, x2: M.l + pw, y1: M.t + ph, y2: M.t + ph, class: "axis"});
  el(svg, "line", {x1: M.l, x2: M.l, y1: M.t, y2: M.t + ph, class: "axis"});
  el(svg, "text", {x: M.l + pw / 2, y: H - 4, "text-anchor": "middle"}, xlabel);
  el(svg, "text", {x: 10, y: M.t + ph / 2, transform: `rotate(-90 10 ${M.t + ph / 2})`, "text-anchor": "middle"}, ylabel);
  return {x, y, pw, ph};
}
function secondTicks(n) { const step = Math.max(1, Math.ceil(n / 10)); const t = []; for (let s = 0; s <= n; s += step) t.push(s); return t; }

function latencyOverTime() {
  const svg = document.getElementById("latency-over-time");
  const S = R.per_second.filter(s => s.count > 0);
  if (!S.length) return;
  const lo = Math.min(...S.map(s => s.p50_ms)), hi = Math.max(...S.map(s => s.max_ms));
  const f = frame(svg, 0, R.per_second.length, lo / 1.5, hi * 1.5, true, "seconds", "latency", secondTicks(R.per_second.length), v => v);
  for (const k of ["p50", "p99", "max"]) {
    const pts = S.map(s => `${f.x(s.t + 0.5).toFixed(1)},${f.y(s[k + "_ms"]).toFixed(1)}`).join(" ");
    el(svg, "polyline", {class: k, points: pts, "data-points": S.length});
  }
}

function spectrum() {
  const svg = document.getElementById("spectrum");
  const P = R.spectrum.filter(p => p[0] < 100);
  if (!P.length) return;
  const X = p => Math.log10(1 / (1 - p / 100));
  const xmax = Math.max(2, Math.ceil(X(P[P.length - 1][0])));
  const ticks = []; for (let e = 0; e <= xmax; e++) ticks.push(e);
  const names = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"];
  const f = frame(svg, 0, xmax, P[0][1] / 1.5, R.latency_ms.max * 1.5, true, "percentile (log scale of 1/(1-p))", "latency", ticks, e => names[e] || ("1-1e-" + e));
  el(svg, "polyline", {class: "spectrum", points: P.map(p => `${f.x(X(p[0])).toFixed(1)},${f.y(p[1]).toFixed(1)}`).join(" "), "data-points": P.length});
  for (const [i, name] of [[2, "p99"], [3, "p99.9"]]) {
    const v = R.latency_ms[name];
    if (i <= xmax) { el(svg, "circle", {class: "dot", cx: f.x(i), cy: f.y(v), r: 3}); el(svg, "text", {x: f.x(i) + 5, y: f.y(v) - 5}, name + " " + fmtMs(v)); }
  }
  el(svg, "text", {x: M.l + 6, y: M.t + 12}, "max " + fmtMs(R.latency_ms.max));
}

function answers() {
  const svg = document.getElementById("answers");
  const S = R.per_second;
  if (!S.length) return;
  const tot = s => KINDS.reduce((a, k) => a + s.answers[k], 0);
  const f = frame(svg, 0, S.length, 0, Math.max(...S.map(tot)) * 1.1, false, "seconds", "answers", secondTicks(S.length), v => v);
  const bw = Math.max(1, f.pw / S.length - 1);
  let bars = 0;
  for (const s of S) {
    let base = 0;
    for (const k of KINDS) {
      const n = s.answers[k];
      if (!n) continue;
      el(svg, "rect", {class: "bar kind-" + k, x: f.x(s.t).toFixed(1), width: bw.toFixed(1), y: f.y(base + n).toFixed(1), height: (f.y(base) - f.y(base + n)).toFixed(1)}, undefined);
      base += n; bars++;
    }
  }
  svg.setAttribute("data-bars", bars);
  const legend = document.getElementById("answers-legend");
  for (const k of KINDS) {
    if (!R.answers_by_kind[k]) continue;
    const span = text(legend, "span", ` ${k} ${R.answers_by_kind[k]}`);
    const swatch = document.createElement("i");
    swatch.style.background = COLORS[k];
    span.prepend(swatch);
  }
}

function text(parent, tag, content, cls) { const e = document.createElement(tag); e.textContent = content; if (cls) e.className = cls; parent.appendChild(e); return e; }
function summary() {
  const sched = R.mode === "find-capacity" ? "capacity search" : (R.schedule.from_rate !== R.schedule.to_rate ? `ramp ${R.schedule.from_rate} to ${R.schedule.to_rate} req/s` : `${R.schedule.to_rate} req/s`);
  document.getElementById("subtitle").textContent = `${R.endpoint} · ${sched} for ${R.schedule.duration_s} s · ${R.connections} connections · retries ${R.retries ? "on" : "off"} · ${R.started_at}` + (R.stopped_by ? ` · stopped early: ${R.stopped_by}` : "");
  const d = document.getElementById("summary");
  const t = document.createElement("table"); d.appendChild(t);
  const hr = t.insertRow(); for (const h of ["", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"]) text(hr, "th", h);
  for (const [name, o] of [["latency from intended send", R.latency_ms], ["service time (closed-loop view)", R.service_time_ms]]) {
    const r = t.insertRow(); text(r, "td", name);
    for (const k of ["p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"]) text(r, "td", fmtMs(o[k]));
  }
  const q = R.requests;
  text(d, "div", `requests: ${q.scheduled} scheduled, ${q.sent} sent, ${q.answered} answered, ${q.unanswered} unanswered · rate intended ${R.intended_rate.toFixed(1)}/s, achieved ${R.achieved_rate.toFixed(1)}/s (${R.behind_percent.toFixed(1)}% behind; max send lag ${fmtMs(R.pacing.max_lag_ms)}) · error share ${(100 * R.error_share).toFixed(2)}%`);
  text(d, "div", "answers by code: " + Object.entries(R.answers_by_code).map(([k, v]) => `${k}: ${v}`).join(", "));
}
function capacity() {
  if (!R.capacity) return;
  const c = R.capacity, d = document.getElementById("capacity");
  text(d, "h2", "Capacity search");
  text(d, "div", c.highest_held !== null ? `highest rate that held: ${c.highest_held} req/s` + (c.lowest_failed !== null ? `; ${c.lowest_failed} req/s did not` : "") + ` (${c.why})` : `no rate held (${c.why})`, c.highest_held !== null ? "held" : "failed");
  text(d, "div", `bounds: p99 <= ${fmtMs(c.p99_bound_ms)}, errors <= ${(100 * c.max_error_share).toFixed(2)}%`);
  const t = document.createElement("table"); t.id = "capacity-steps"; d.appendChild(t);
  const hr = t.insertRow(); for (const h of ["rate", "achieved", "p50", "p99", "p99.9", "errors", "throttled", ""]) text(hr, "th", h);
  for (const s of c.steps) {
    const r = t.insertRow();
    for (const v of [s.rate, s.achieved_rate.toFixed(1), fmtMs(s.p50_ms), fmtMs(s.p99_ms), fmtMs(s["p99.9_ms"]), (100 * s.error_share).toFixed(2) + "%", s.answers.throttled]) text(r, "td", v);
    text(r, "td", s.held ? "held" : "failed", s.held ? "held" : "failed");
  }
}
summary(); latencyOverTime(); spectrum(); answers(); capacity();
document.body.setAttribute("data-rendered", "yes");
</script></body></html>
)html";

}  // namespace

std::string to_html(const bench_report& r) {
    std::string json = to_json(r);
    // "</" would end the script element early: JSON allows "<\/" for it.
    std::string safe;
    safe.reserve(json.size());
    for (std::size_t i = 0; i < json.size(); ++i) {
        if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/') {
            safe += "<\\/";
            ++i;
        } else {
            safe += json[i];
        }
    }
    return std::string(page_head) + safe + page_tail;
}

}  // namespace koorelease::bench

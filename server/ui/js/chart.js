// A line chart drawn as SVG (no library): series of {t, v} points over a
// fixed time span ending now, a y axis from 0 to a rounded maximum with
// grid lines, and minute marks on the x axis. The SVG is an image for
// assistive technology, labelled with each series' latest and peak values.

import { h } from "./dom.js";

const H = 200;
const PAD = { left: 56, right: 12, top: 12, bottom: 26 };

// 1, 2, 5 × 10^n at or above v.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(v % 1e6 ? 1 : 0) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(v % 1e3 ? 1 : 0) + "k";
  return String(Math.round(v * 100) / 100);
}

// series: [{name, cls, points: [{t (unix ms), v}]}]; spanMs: the x range,
// ending at the newest point.
// `width`: the box's width in px (drawn 1:1, so text keeps its size).
export function lineChart({ title, series, spanMs, unit, format, width }) {
  const W = Math.max(280, Math.round(width || 640));
  const now = series.reduce((m, s) => Math.max(m, ...s.points.map((p) => p.t)), 0) || Date.now();
  const t0 = now - spanMs;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.v))));
  const x = (t) => PAD.left + ((t - t0) / spanMs) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);

  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = max * f;
    return [
      h("svg:line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "gridline" }),
      h("svg:text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, label(v)),
    ];
  });
  // A mark every minute, or every 15 s on a span of a minute or less.
  const step = spanMs <= 60000 ? 15000 : 60000;
  const ticks = [];
  for (let k = 0; k * step <= spanMs; k++) {
    const t = now - k * step;
    const text = k === 0 ? "now" : step < 60000 ? `−${(k * step) / 1000} s` : `−${k} min`;
    ticks.push(h("svg:text", { x: x(t), y: H - 8, "text-anchor": k === 0 ? "end" : "middle", class: "axis" }, text));
  }
  const spanText = spanMs < 120000 ? `${Math.round(spanMs / 1000)} seconds` : `${Math.round(spanMs / 60000)} minutes`;
  const lines = series.map((s) => {
    const pts = s.points.filter((p) => p.t >= t0).map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
    return pts.length > 1
      ? h("svg:polyline", { points: pts.join(" "), class: "line " + s.cls, fill: "none" })
      : null;
  });
  const fmt = format || label;
  const summary = series.map((s) => {
    const vs = s.points.map((p) => p.v);
    const last = vs.length ? vs[vs.length - 1] : null;
    return `${s.name}: now ${last === null ? "no data" : fmt(last)}, peak ${vs.length ? fmt(Math.max(...vs)) : "no data"}`;
  }).join("; ");
  return h("figure", { class: "chart" },
    h("svg:svg", {
      viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
      "aria-label": `${title} over the last ${spanText} (${unit}). ${summary}`,
    }, grid, ticks, lines),
    h("figcaption", { class: "legend" },
      series.map((s) => h("span", { class: "key " + s.cls }, s.name))));
}

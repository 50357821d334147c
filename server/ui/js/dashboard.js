// The dashboard: readiness, head, throughput over the last minutes (a
// chart), append and fsync latency percentiles, disk, subscriptions,
// consumer groups and the scavenge — GET /api/v1/dashboard every 2 s.
// Values are updated in place, so keyboard focus stays where it was.

import * as api from "./api.js";
import { ops } from "./access.js";
import { h, replace, table, link, errorBox } from "./dom.js";
import * as fmt from "./format.js";
import { lineChart } from "./chart.js";

const POLL_MS = 2000;

function card(title, ...body) {
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), body);
}

function stat(label, field, sub) {
  return h("div", { class: "stat" },
    h("span", { class: "stat-label" }, label),
    h("span", { class: "stat-value", "data-field": field }, "…"),
    sub ? h("span", { class: "stat-sub", "data-field": field + "-sub" }, "") : null);
}

export function render(main) {
  const status = h("div", { class: "status-line", "data-field": "status" }, "Loading…");
  const chart = h("div", { class: "chart-box", "data-field": "chart" });
  const groupsBox = h("div", { "data-field": "groups" });
  const scavengeBox = h("div", { "data-field": "scavenge" });
  const error = h("div", { "aria-live": "polite" });
  // (replace, not append: it skips the sections left out as null)
  replace(main,
    h("h1", {}, "Dashboard"),
    error,
    status,
    h("div", { class: "grid" },
      card("Log",
        stat("Head position", "head"),
        stat("Indexed", "indexed"),
        stat("Writer queue", "queue")),
      card("Append latency",
        h("p", { class: "muted small", "data-field": "window" }, ""),
        stat("p50", "append-p50"), stat("p90", "append-p90"), stat("p99", "append-p99")),
      card("fsync latency",
        h("p", { class: "muted small" }, "write + fdatasync per commit"),
        stat("p50", "fsync-p50"), stat("p90", "fsync-p90"), stat("p99", "fsync-p99")),
      card("Disk",
        stat("Log size", "log-bytes"),
        stat("Segments", "segments"),
        stat("Free", "free-bytes")),
      card("Subscriptions",
        stat("Live", "subs-live"),
        stat("Catching up", "subs-catching-up"),
        ops() ? stat("Consumer groups", "group-count") : null)),
    h("section", { class: "card wide", "aria-label": "Throughput" },
      h("h2", {}, "Throughput"),
      h("div", { class: "stat-row" },
        stat("Events/s", "events-rate"),
        stat("Appends/s", "appends-rate")),
      chart),
    // Groups and scavenges are the operators' (their pages need ops).
    !ops() ? null : h("section", { class: "card wide", "aria-label": "Consumer groups" },
      h("h2", {}, "Consumer groups"), groupsBox),
    !ops() ? null : h("section", { class: "card wide", "aria-label": "Scavenge" },
      h("h2", {}, "Scavenge"), scavengeBox));

  const set = (field, text) => {
    const el = main.querySelector(`[data-field="${field}"]`);
    if (el && el.textContent !== text) el.textContent = text;
  };
  let lastGroups = "";
  let lastScavenge = "";

  async function refresh() {
    let d;
    try {
      d = await api.get("/dashboard");
      replace(error);
    } catch (e) {
      replace(error, errorBox(e));
      return;
    }
    replace(status,
      h("span", { class: "pill " + (d.ready ? "ok" : "bad") }, d.ready ? "Ready" : "Not ready"),
      " ",
      d.ready ? "takes writes" : d.readiness,
      d.poisoned ? h("strong", { class: "bad-text" }, ` — poisoned: ${d.poisoned}`) : null,
      d.disk_full ? h("strong", { class: "bad-text" }, " — disk full") : null,
      h("span", { class: "muted" }, ` · Strata ${d.version}`));
    set("head", fmt.int(d.head));
    set("indexed", fmt.int(d.indexed));
    set("queue", fmt.int(d.writer_queue_depth));
    const samples = d.rates.samples;
    const last = samples[samples.length - 1];
    set("events-rate", last ? fmt.rate(last.events_per_second) : "—");
    set("appends-rate", last ? fmt.rate(last.appends_per_second) : "—");
    const lat = d.latency;
    set("window", lat.window_seconds ? `last ${lat.window_seconds} s` : "since the server started");
    for (const [name, v] of [["append", lat.append_ms], ["fsync", lat.fsync_ms]]) {
      for (const p of ["p50", "p90", "p99"]) set(`${name}-${p}`, v ? fmt.ms(v[p]) : "n/a");
    }
    set("log-bytes", fmt.bytes(d.disk.log_bytes));
    set("segments", fmt.int(d.disk.segments));
    set("free-bytes", fmt.bytes(d.disk.free_bytes));
    set("subs-live", d.subscriptions ? fmt.int(d.subscriptions.live) : "n/a");
    set("subs-catching-up", d.subscriptions ? fmt.int(d.subscriptions.catching_up) : "n/a");
    // groups and scavenge: null for a caller without ops.
    if (d.groups) set("group-count", fmt.int(d.groups.length));

    // The history the server has, a minute at least, five at most.
    const have = samples.length ? samples[samples.length - 1].t - samples[0].t : 0;
    const spanMs = Math.min(5, Math.max(1, Math.ceil(have / 60000))) * 60000;
    replace(chart, lineChart({
      width: chart.clientWidth,
      title: "Events and appends per second",
      unit: "per second",
      spanMs,
      format: fmt.rate,
      series: [
        { name: "events/s", cls: "s1", points: samples.map((s) => ({ t: s.t, v: s.events_per_second })) },
        { name: "appends/s", cls: "s2", points: samples.map((s) => ({ t: s.t, v: s.appends_per_second })) },
      ],
    }));

    const g = JSON.stringify(d.groups);
    if (d.groups && g !== lastGroups) {
      lastGroups = g;
      replace(groupsBox, d.groups.length === 0
        ? h("p", { class: "muted" }, "No consumer groups.")
        : table("Consumer groups", ["Group", "State", "Consumers", "In flight", "Lag", "Parked"],
          d.groups.map((x) => [
            link("/group/" + encodeURIComponent(x.group), x.group),
            h("span", { class: "state " + x.state }, x.state),
            fmt.int(x.consumers), fmt.int(x.in_flight), fmt.int(x.lag),
            x.parked > 0 ? h("strong", { class: "bad-text" }, fmt.int(x.parked)) : "0",
          ])));
    }
    const s = JSON.stringify(d.scavenge);
    if (s !== lastScavenge) {
      lastScavenge = s;
      const sc = d.scavenge;
      replace(scavengeBox, !sc
        ? h("p", {}, "No scavenge since the server started. ", link("/scavenge", "Scavenge page"))
        : h("p", {}, `${sc.state}: ${fmt.int(sc.segments_done)} of ${fmt.int(sc.segments_total)} segments, `,
          `${fmt.bytes(sc.bytes_reclaimed)} reclaimed. `, link("/scavenge", "Details")));
    }
  }

  refresh();
  const timer = setInterval(refresh, POLL_MS);
  return () => clearInterval(timer);
}

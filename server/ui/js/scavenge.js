// Scavenge: the running or last scavenge (GET /api/v1/scavenge, polled:
// every second while one runs), starting one with a rate limit, stopping
// it, and the history of every scavenge from the $scavenges stream
// (a $scavengeStarted record and its end record per scavenge id).

import * as api from "./api.js";
import { ops } from "./access.js";
import { h, replace, table, dl, link, errorBox, toast } from "./dom.js";
import * as fmt from "./format.js";

const HISTORY_RECORDS = 100;

export function render(main) {
  const current = h("div", { "data-field": "scavenge-current" }, h("p", { class: "muted" }, "Loading…"));
  const rate = h("input", { id: "rate", type: "number", min: "0", step: "1", value: "64", inputmode: "numeric" });
  const startBtn = h("button", { type: "submit", "data-field": "start" }, "Start scavenge");
  const stopBtn = h("button", { type: "button", class: "destructive", "data-field": "stop", hidden: true }, "Stop");
  const history = h("div", { "data-field": "scavenge-history" });
  main.append(
    h("h1", {}, "Scavenge"),
    h("p", {}, "A scavenge rewrites sealed segments without deleted, expired and truncated events, giving the space back; ",
      "the server keeps serving meanwhile."),
    current,
    h("h2", {}, "Start a scavenge"),
    h("form", {
      class: "inline",
      onsubmit: async (e) => {
        e.preventDefault();
        startBtn.disabled = true;
        try {
          const mib = Number(rate.value || 0);
          await api.post("/scavenge", { max_bytes_per_second: mib > 0 ? Math.round(mib * 1024 * 1024) : null });
          toast("Scavenge started", "ok");
          refresh();
        } catch (err) {
          toast(`Could not start: ${err.message}`, "bad");
        } finally {
          startBtn.disabled = false;
        }
      },
    },
    h("label", { for: "rate" }, "Read at most (MiB/s, 0 = no limit)"), rate, startBtn, stopBtn),
    h("section", { "aria-label": "History" }, h("h2", {}, "History"),
      h("p", { class: "small" }, "From the ", link("/stream/" + encodeURIComponent("$scavenges"), "$scavenges"), " stream, newest first."),
      history));

  stopBtn.addEventListener("click", async () => {
    stopBtn.disabled = true;
    try {
      await api.post("/scavenge/stop", {});
      toast("Scavenge stopped", "ok");
    } catch (err) {
      toast(`Could not stop: ${err.message}`, "bad");
    } finally {
      stopBtn.disabled = false;
      refresh();
    }
  });

  let timer = 0;
  let stopped = false;
  let lastHistory = "";
  async function refresh() {
    clearTimeout(timer);
    let running = false;
    try {
      const s = await api.get("/scavenge");
      running = s.state === "running";
      const pct = s.segments_total ? Math.round((100 * s.segments_done) / s.segments_total) : running ? 0 : 100;
      replace(current, h("section", { class: "card", "aria-label": "Current scavenge" },
        h("h2", {}, running ? "Running" : "Last scavenge since the server started"),
        h("progress", { max: "100", value: String(pct), "aria-label": `${pct}% of segments done` }),
        dl([
          ["State", h("span", { class: "state " + s.state }, s.state), "scavenge-state"],
          ["Segments", `${fmt.int(s.segments_done)} of ${fmt.int(s.segments_total)}`],
          ["Read", fmt.bytes(s.bytes_processed)],
          ["Reclaimed", fmt.bytes(s.bytes_reclaimed)],
          ["Records dropped", fmt.int(s.records_dropped)],
          ["Rate limit", s.max_bytes_per_second ? fmt.bytes(s.max_bytes_per_second) + "/s" : "none"],
          ["Started", fmt.time(s.started_micros)],
          ["Finished", s.finished_micros ? fmt.time(s.finished_micros) : "—"],
          s.error ? ["Error", h("span", { class: "bad-text" }, s.error)] : null,
          ["Id", h("code", {}, s.id)],
        ])));
    } catch (e) {
      replace(current, e.kind === "scavenge-not-found"
        ? h("p", { "data-field": "scavenge-state" }, "No scavenge has run since the server started.")
        : errorBox(e));
    }
    stopBtn.hidden = !running || !ops();
    startBtn.hidden = running || !ops();
    await loadHistory();
    if (!stopped) timer = setTimeout(refresh, running ? 1000 : 5000);
  }

  async function loadHistory() {
    let records;
    try {
      records = (await api.get(`/streams/${api.seg("$scavenges")}/events`, { limit: HISTORY_RECORDS })).events;
    } catch (e) {
      records = [];
      if (e.kind !== "stream-not-found") { replace(history, errorBox(e)); return; }
    }
    const key = records.length ? records[0].position : 0;
    if (String(key) === lastHistory) return;
    lastHistory = String(key);
    // Newest first: the end record of a scavenge comes before its start.
    const runs = new Map();
    for (const r of records) {
      let d = {};
      try { d = JSON.parse(r.data.text); } catch (_) { continue; }
      const run = runs.get(d.id) || { id: d.id };
      if (r.type === "$scavengeStarted") run.started = r.created_micros;
      else {
        run.ended = r.created_micros;
        run.outcome = r.type.replace("$scavenge", "").toLowerCase();
        run.data = d;
      }
      runs.set(d.id, run);
    }
    const list = [...runs.values()];
    replace(history, list.length === 0 ? h("p", {}, "No scavenge has ever run.")
      : table("Scavenge history", ["Started", "Ended", "Outcome", "Segments", "Reclaimed", "Records dropped"],
        list.map((r) => [
          fmt.time(r.started), r.ended ? fmt.time(r.ended) : "—",
          r.outcome ? h("span", { class: "state " + r.outcome }, r.outcome + (r.data.error ? `: ${r.data.error}` : ""))
            : "running or interrupted",
          r.data ? `${fmt.int(r.data.segments_done)} of ${fmt.int(r.data.segments_total)}` : "—",
          r.data ? fmt.bytes(r.data.bytes_reclaimed) : "—",
          r.data ? fmt.int(r.data.records_dropped) : "—",
        ])));
  }

  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

// The live tail of $all: new events as they are committed (Server-Sent
// Events from GET /api/v1/tail, read by api.Tail, which sends the
// credentials and resumes from the last frame's id), filtered by event
// type and stream prefix, pausable, and bounded: the page keeps at most
// MAX_ROWS rows (and while paused at most MAX_ROWS waiting events),
// dropping the oldest. The server shows a caller who is not an admin only
// the streams it was granted `subscribe` on.

import * as api from "./api.js";
import { h, link } from "./dom.js";
import * as fmt from "./format.js";
import { preview } from "./payload.js";

export const MAX_ROWS = 500;
const FLUSH_MS = 100;

export function render(main, params) {
  const types = h("input", { id: "types", type: "text", value: params.types || "", placeholder: "OrderPlaced, OrderShipped", spellcheck: "false" });
  const prefixes = h("input", { id: "prefixes", type: "text", value: params.prefixes || "", placeholder: "order-, user-", spellcheck: "false" });
  const state = h("span", { class: "tail-state", role: "status", "data-field": "tail-state" }, "connecting…");
  const count = h("span", { class: "muted", "data-field": "tail-count" }, "");
  const pause = h("button", { type: "button", "aria-pressed": "false", "data-field": "pause" }, "Pause");
  const clear = h("button", { type: "button" }, "Clear");
  const rows = h("tbody", { "data-field": "tail-rows" });
  main.append(
    h("h1", {}, "Live tail of $all"),
    h("form", {
      class: "filters",
      onsubmit: (e) => {
        e.preventDefault();
        const q = new URLSearchParams();
        if (types.value.trim()) q.set("types", types.value.trim());
        if (prefixes.value.trim()) q.set("prefixes", prefixes.value.trim());
        const target = "#/tail" + (q.toString() ? "?" + q : "");
        if (location.hash === target) connect(); else location.hash = target;
      },
    },
    h("div", { class: "field" }, h("label", { for: "types" }, "Event types (comma-separated)"), types),
    h("div", { class: "field" }, h("label", { for: "prefixes" }, "Stream prefixes (comma-separated)"), prefixes),
    h("button", { type: "submit" }, "Apply filters")),
    h("div", { class: "tail-bar" }, pause, clear, state, count),
    h("div", { class: "table-wrap" },
      h("table", { class: "tail" },
        h("caption", { class: "sr-only" }, "Events, newest first"),
        h("thead", {}, h("tr", {}, ["Time", "Stream", "Revision", "Type", "Position", "Data"].map((c) => h("th", { scope: "col" }, c)))),
        rows)));

  let es = null;
  let paused = false;
  let waiting = []; // received, not yet shown (newest last), at most MAX_ROWS
  let dropped = 0;
  let flushTimer = 0;
  let shown = 0;

  const status = (text, cls = "") => { state.textContent = text; state.className = "tail-state " + cls; };
  const counts = () => {
    count.textContent = paused
      ? ` · ${fmt.int(waiting.length)} waiting${dropped ? `, ${fmt.int(dropped)} older dropped` : ""}`
      : ` · showing ${fmt.int(shown)} (at most ${MAX_ROWS})`;
  };

  function row(e) {
    return h("tr", { "data-position": e.position },
      h("td", {}, fmt.time(e.created_micros)),
      h("td", {}, link("/stream/" + encodeURIComponent(e.stream), e.stream)),
      h("td", {}, link(`/event/${encodeURIComponent(e.stream)}/${e.revision}`, String(e.revision))),
      h("td", {}, e.type),
      h("td", {}, fmt.int(e.position)),
      h("td", { class: "preview" }, preview(e.data)));
  }

  function flush() {
    flushTimer = 0;
    if (paused || waiting.length === 0) return;
    const frag = document.createDocumentFragment();
    for (let i = waiting.length - 1; i >= 0; i--) frag.appendChild(row(waiting[i]));
    rows.insertBefore(frag, rows.firstChild);
    waiting = [];
    while (rows.childElementCount > MAX_ROWS) rows.lastElementChild.remove();
    shown = rows.childElementCount;
    counts();
  }

  function receive(events) {
    waiting.push(...events);
    if (waiting.length > MAX_ROWS) {
      dropped += waiting.length - MAX_ROWS;
      waiting = waiting.slice(waiting.length - MAX_ROWS);
    }
    if (paused) counts();
    else if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
  }

  function connect() {
    if (es) es.close();
    status("connecting…");
    es = api.tail({ types: types.value.trim(), prefixes: prefixes.value.trim() });
    es.addEventListener("open", () => status(paused ? "paused" : "live", paused ? "" : "ok"));
    es.addEventListener("caught-up", () => status(paused ? "paused" : "live", paused ? "" : "ok"));
    es.addEventListener("events", (m) => receive(JSON.parse(m.data)));
    es.addEventListener("failure", (m) => {
      const body = JSON.parse(m.data);
      status(`${body.message} (${body.error})`, "bad");
      // Retrying helps only when the server is busy or restarting.
      if (!["too-many-subscriptions", "shutting-down", "unavailable"].includes(body.error)) es.close();
    });
    es.addEventListener("error", () => {
      if (es.readyState !== api.OPEN) status("disconnected — reconnecting…", "bad");
    });
  }

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (paused) {
      status("paused");
    } else {
      status("live", "ok");
      dropped = 0;
      flush();
    }
    counts();
  });
  clear.addEventListener("click", () => {
    rows.replaceChildren();
    waiting = [];
    dropped = 0;
    shown = 0;
    counts();
  });

  connect();
  counts();
  return () => { if (es) es.close(); clearTimeout(flushTimer); };
}

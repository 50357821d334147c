// Consumer groups: the list (#/groups) with state, consumers, in-flight,
// lag and parked counts; one group (#/group/<name>) with its definition,
// consumers, and its parked events (the records of $parked-<group>, each
// with the reason it was parked) and a button replaying them. Both poll
// every 2 s.

import * as api from "./api.js";
import { ops } from "./access.js";
import { h, replace, table, dl, link, errorBox, toast } from "./dom.js";
import * as fmt from "./format.js";
import { payloadView } from "./payload.js";

const POLL_MS = 2000;
const PARKED_PAGE = 50;

export function render(main, params) {
  return params.group === undefined ? renderList(main) : renderGroup(main, params.group);
}

function stateCell(g) {
  return [h("span", { class: "state " + g.state }, g.state), g.reason ? h("div", { class: "muted small" }, g.reason) : null];
}

function renderList(main) {
  const box = h("div", { "data-field": "groups" }, h("p", { class: "muted" }, "Loading…"));
  main.append(h("h1", {}, "Consumer groups"), box);
  let last = "";
  async function refresh() {
    try {
      const { groups } = await api.get("/groups");
      const s = JSON.stringify(groups);
      if (s === last) return;
      last = s;
      replace(box, groups.length === 0
        ? h("p", {}, "No consumer groups. Groups are created over gRPC (PersistentSubscriptions/Create).")
        : table("Consumer groups", ["Group", "Source", "Strategy", "State", "Consumers", "In flight", "Lag", "Parked"],
          groups.map((g) => [
            link("/group/" + encodeURIComponent(g.group), g.group),
            source(g),
            g.settings.strategy,
            stateCell(g),
            fmt.int(g.consumers.length),
            fmt.int(g.in_flight),
            fmt.int(g.lag),
            g.parked > 0 ? h("strong", { class: "bad-text" }, fmt.int(g.parked)) : "0",
          ])));
    } catch (e) {
      last = "";
      replace(box, errorBox(e));
    }
  }
  refresh();
  const timer = setInterval(refresh, POLL_MS);
  return () => clearInterval(timer);
}

function source(g) {
  const f = [];
  if (g.filter.stream_prefixes.length) f.push("prefixes " + g.filter.stream_prefixes.join(", "));
  if (g.filter.event_types.length) f.push("types " + g.filter.event_types.join(", "));
  return g.stream + (f.length ? ` (${f.join("; ")})` : "");
}

function renderGroup(main, name) {
  const info = h("div", { "data-field": "group-info" }, h("p", { class: "muted" }, "Loading…"));
  const consumers = h("div", { "data-field": "consumers" });
  const parked = h("div", { "data-field": "parked" });
  const replay = h("button", { type: "button", "data-field": "replay" }, "Replay parked events");
  const parkedStream = "$parked-" + name;
  main.append(
    h("p", { class: "crumbs" }, link("/groups", "Consumer groups"), " / "),
    h("h1", {}, name),
    info,
    h("section", { "aria-label": "Consumers" }, h("h2", {}, "Consumers"), consumers),
    h("section", { "aria-label": "Parked events" },
      h("h2", {}, "Parked events"),
      h("p", { class: "small" }, "Events that ran out of retries or were nacked with park, oldest first, in ",
        link("/stream/" + encodeURIComponent(parkedStream), parkedStream), "."),
      h("div", { class: "buttons" }, replay),
      parked));

  replay.addEventListener("click", async () => {
    replay.disabled = true;
    try {
      const r = await api.post(`/groups/${api.seg(name)}/replay-parked`, {});
      toast(`${fmt.int(r.queued)} parked events queued for delivery again`, "ok");
      refresh();
    } catch (e) {
      toast(`Replay failed: ${e.message}`, "bad");
    } finally {
      replay.disabled = false;
    }
  });

  let lastInfo = "";
  let lastParked = "";
  async function refresh() {
    try {
      const g = await api.get(`/groups/${api.seg(name)}`);
      const s = JSON.stringify(g);
      if (s !== lastInfo) {
        lastInfo = s;
        const st = g.settings;
        replace(info, dl([
          ["State", stateCell(g), "state"],
          ["Source", source(g)],
          ["Strategy", st.strategy + (st.partition_key ? ` (partition key ${st.partition_key})` : "")],
          ["Checkpoint", fmt.int(g.checkpoint)],
          ["Read up to", fmt.int(g.head)],
          ["Lag", fmt.int(g.lag), "lag"],
          ["In flight", fmt.int(g.in_flight), "in-flight"],
          ["Parked", fmt.int(g.parked), "parked-count"],
          ["Settings", `max retries ${st.max_retry_count}, message timeout ${fmt.int(st.message_timeout_ms)} ms, ` +
            `max in flight ${fmt.int(st.max_in_flight)}, max consumers ${fmt.int(st.max_subscribers)}`],
          ["Since start", `${fmt.int(g.delivered)} delivered, ${fmt.int(g.acked)} acked, ${fmt.int(g.nacked)} nacked, ` +
            `${fmt.int(g.parked_total)} parked, ${fmt.int(g.redelivered)} retried`],
        ]));
        replace(consumers, g.consumers.length === 0 ? h("p", {}, "No consumer is connected.")
          : table("Consumers", ["Name", "Id", "In flight", "Delivered", "Acked", "Nacked", "Connected"],
            g.consumers.map((c) => [c.name || "—", c.id, `${fmt.int(c.in_flight)} / ${fmt.int(c.capacity)}`,
              fmt.int(c.delivered), fmt.int(c.acked), fmt.int(c.nacked), fmt.ago(c.connected_micros)])));
        replay.hidden = g.parked === 0 || !ops();
      }
    } catch (e) {
      lastInfo = "";
      replace(info, errorBox(e));
      return;
    }
    let events = [];
    try {
      const page = await api.get(`/streams/${api.seg(parkedStream)}/events`, { direction: "forwards", limit: PARKED_PAGE });
      events = page.events;
    } catch (e) {
      if (!["stream-not-found", "stream-deleted"].includes(e.kind)) {
        lastParked = "";
        replace(parked, errorBox(e));
        return;
      }
    }
    const s = JSON.stringify(events.map((e) => e.id));
    if (s === lastParked) return;
    lastParked = s;
    replace(parked, events.length === 0 ? h("p", { "data-field": "parked-empty" }, "No parked events.")
      : h("ul", { class: "parked" }, events.map(parkedItem)));
  }

  refresh();
  const timer = setInterval(refresh, POLL_MS);
  return () => clearInterval(timer);
}

// A parked record: its metadata holds {"$parked": {reason, original_stream, ...}}.
function parkedItem(e) {
  let park = {};
  try { park = JSON.parse(e.metadata.text || "{}")["$parked"] || {}; } catch (_) { /* not a park record */ }
  return h("li", {},
    h("details", { class: "event" },
      h("summary", {},
        h("span", { class: "type" }, e.type), " from ",
        h("span", {}, `${park.original_stream ?? "?"} #${park.original_revision ?? "?"}`),
        h("span", { class: "reason" }, " — " + (park.reason || "no reason given"))),
      h("div", { class: "event-body" }, dl([
        ["Reason", park.reason || "—", "reason"],
        ["Original event", park.original_stream !== undefined
          ? link(`/event/${encodeURIComponent(park.original_stream)}/${park.original_revision}`,
            `${park.original_stream} #${park.original_revision} (position ${fmt.int(park.original_position)})`)
          : "—"],
        ["Retries", fmt.int(park.retry_count)],
        ["Parked", fmt.time(park.parked_micros)],
        ["Original id", h("code", {}, park.original_event_id || "—")],
        ["Data", payloadView(e.data, e.content_type, "Data")],
      ]))));
}

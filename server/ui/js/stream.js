// One stream (#/stream/<name>): its events newest first, paged, each
// opening to its type, revision, position, time, id, metadata and data;
// the stream's metadata and snapshots; soft delete and tombstone behind a
// confirmation step, offered only to callers who may delete it. And one
// event whole (#/event/<name>/<revision>).

import * as api from "./api.js";
import { may } from "./access.js";
import { h, replace, dl, link, errorBox, toast } from "./dom.js";
import * as fmt from "./format.js";
import { payloadView } from "./payload.js";

const PAGE = 20;

export function render(main, params) {
  if (params.revision !== undefined) return renderEvent(main, params.stream, Number(params.revision));
  const name = params.stream;
  const events = h("div", { "data-field": "events" });
  const pager = h("div", { class: "pager" });
  const meta = h("div", { "data-field": "metadata" });
  const snaps = h("div", { "data-field": "snapshots" });
  const danger = h("div", {});
  // System streams are not deleted from here; others with `delete` only.
  const deletable = !name.startsWith("$") && may("delete", name);
  // (replace, not append: it skips the sections left out as null)
  replace(main,
    h("p", { class: "crumbs" }, link("/streams", "Streams"), " / "),
    h("h1", { class: "stream-name" }, name),
    h("section", { "aria-label": "Events" }, h("h2", {}, "Events, newest first"), events, pager),
    h("section", { "aria-label": "Metadata" }, h("h2", {}, "Metadata"), meta),
    h("section", { "aria-label": "Snapshots" }, h("h2", {}, "Snapshots"), snaps),
    !deletable ? null : h("section", { "aria-label": "Delete", class: "danger" },
      h("h2", {}, "Delete"), danger));

  // The newest revision seen, for the delete's expected revision.
  let lastRevision = null;
  const newer = [];
  let from = null;

  async function loadEvents(start) {
    replace(events, h("p", { class: "muted" }, "Loading…"));
    let page;
    try {
      page = await api.get(`/streams/${api.seg(name)}/events`, { from: start, limit: PAGE });
    } catch (e) {
      replace(events, e.kind === "stream-not-found" ? h("p", {}, "This stream has no events.") : errorBox(e));
      replace(pager);
      return;
    }
    from = start;
    if (start === null && page.events.length) lastRevision = page.events[0].revision;
    replace(events, page.events.length === 0
      ? h("p", {}, "No events to show.")
      : h("ol", { class: "events", reversed: true }, page.events.map((e) => eventItem(e))));
    replace(pager,
      h("button", { type: "button", disabled: newer.length === 0, onclick: () => loadEvents(newer.pop()) }, "← Newer"),
      h("button", {
        type: "button", disabled: page.next_from === null,
        onclick: () => { newer.push(from); loadEvents(page.next_from); },
      }, "Older →"));
  }

  async function loadMeta() {
    try {
      const m = await api.get(`/streams/${api.seg(name)}/metadata`);
      replace(meta, dl([
        ["State", m.tombstoned ? "tombstoned (can never be written again)" : m.deleted ? "deleted (appending recreates it)" : "live", "state"],
        ["Max count", m.max_count === null ? "no limit" : fmt.int(m.max_count)],
        ["Max age", m.max_age_seconds === null ? "no limit" : fmt.int(m.max_age_seconds) + " s"],
        ["Truncate before", m.truncate_before === null ? "—" : fmt.int(m.truncate_before)],
        ["Metadata revision", m.metadata_revision === null ? "never set" : fmt.int(m.metadata_revision)],
        ["Custom", m.custom.bytes ? payloadView(m.custom, "application/json", "Custom metadata") : "—"],
      ]));
      if (m.tombstoned) replace(danger, h("p", {}, "Tombstoned: nothing more can be done."));
    } catch (e) {
      replace(meta, errorBox(e));
    }
  }

  async function loadSnapshots() {
    try {
      const s = await api.get(`/streams/${api.seg(name)}/snapshots`);
      replace(snaps, s.snapshots.length === 0 ? h("p", {}, "No snapshots.")
        : s.snapshots.map((x) => h("details", { class: "event" },
          h("summary", {}, h("span", { class: "rev" }, "@" + x.revision), " ", h("span", { class: "type" }, x.snapshot_type),
            h("span", { class: "muted" }, ` · schema ${x.schema_version} · ${fmt.time(x.created_micros)}`)),
          dl([["Revision", fmt.int(x.revision)], ["Saved", fmt.time(x.created_micros)],
            ["Metadata", payloadView(x.metadata, "", "Snapshot metadata")],
            ["Data", payloadView(x.data, "", "Snapshot data")]]))));
    } catch (e) {
      replace(snaps, errorBox(e));
    }
  }

  function deleteControls() {
    const start = (tombstone) => {
      const input = h("input", { id: "confirm-name", type: "text", autocomplete: "off", spellcheck: "false" });
      const go = h("button", { type: "submit", class: "destructive", disabled: true },
        tombstone ? "Tombstone for good" : "Delete stream");
      input.addEventListener("input", () => { go.disabled = input.value !== name; });
      const form = h("form", {
        class: "confirm",
        onsubmit: async (e) => {
          e.preventDefault();
          if (input.value !== name) return;
          go.disabled = true;
          try {
            await api.post(`/streams/${api.seg(name)}/delete`, { tombstone, expected_revision: lastRevision });
            toast(tombstone ? `Tombstoned ${name}` : `Deleted ${name}`, "ok");
            deleteControls();
            loadEvents(null);
            loadMeta();
          } catch (err) {
            replace(note, errorBox(err.kind === "wrong-expected-revision"
              ? { message: "The stream changed since this page loaded it; look again before deleting.", kind: err.kind }
              : err));
            go.disabled = false;
          }
        },
      },
      h("p", {}, tombstone
        ? "A tombstone hides every event and refuses every later write to this name, for good."
        : "A soft delete hides every event; appending again recreates the stream from the next revision.",
      lastRevision === null ? "" : ` Only if its last revision is still ${lastRevision}.`),
      h("label", { for: "confirm-name" }, "Type the stream's name to confirm"),
      input,
      h("div", { class: "buttons" }, go,
        h("button", { type: "button", onclick: () => deleteControls() }, "Cancel")));
      const note = h("div", { "aria-live": "polite" });
      replace(danger, form, note);
      input.focus();
    };
    replace(danger,
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "destructive", onclick: () => start(false) }, "Delete…"),
        h("button", { type: "button", class: "destructive", onclick: () => start(true) }, "Tombstone…")));
  }

  loadEvents(null);
  loadMeta();
  loadSnapshots();
  if (deletable) deleteControls();
  return null;
}

// One event as an item that opens to its details (a <details>: keyboard
// and screen readers know how to open it).
function eventItem(e) {
  return h("li", { value: e.revision + 1 },
    h("details", { class: "event", "data-revision": e.revision },
      h("summary", {},
        h("span", { class: "rev" }, "#" + e.revision), " ",
        h("span", { class: "type" }, e.type),
        h("span", { class: "muted" }, ` · position ${fmt.int(e.position)} · ${fmt.time(e.created_micros)}`)),
      eventDetails(e)));
}

function eventDetails(e) {
  return h("div", { class: "event-body" }, dl([
    ["Type", e.type],
    ["Revision", fmt.int(e.revision)],
    ["Position", fmt.int(e.position)],
    ["Time", fmt.time(e.created_micros)],
    ["Id", h("code", {}, e.id)],
    ["Content type", e.content_type || "—"],
    ["Metadata", payloadView(e.metadata, /json/.test(e.content_type) ? "application/json" : "", "Metadata")],
    ["Data", payloadView(e.data, e.content_type, "Data")],
  ]),
  e.data.truncated || e.metadata.truncated
    ? h("p", {}, link(`/event/${encodeURIComponent(e.stream)}/${e.revision}`, "Open the whole event"))
    : h("p", { class: "small" }, link(`/event/${encodeURIComponent(e.stream)}/${e.revision}`, "Link to this event")));
}

function renderEvent(main, name, revision) {
  const body = h("div", { "data-field": "event" }, h("p", { class: "muted" }, "Loading…"));
  main.append(
    h("p", { class: "crumbs" }, link("/streams", "Streams"), " / ",
      link("/stream/" + encodeURIComponent(name), name), " / "),
    h("h1", {}, `${name} #${revision}`),
    body);
  api.get(`/streams/${api.seg(name)}/events/${revision}`)
    .then((r) => replace(body, r.event ? eventDetails(r.event) : h("p", {}, "No visible event at this revision.")))
    .catch((e) => replace(body, errorBox(e)));
  return null;
}

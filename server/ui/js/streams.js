// Streams: search by name prefix, a paged list (name, last revision, last
// position) — GET /api/v1/streams?prefix=&after=&limit=. The prefix is
// kept in the address (#/streams?prefix=order-), so back and reload work.

import * as api from "./api.js";
import { ops } from "./access.js";
import { h, replace, table, link, errorBox } from "./dom.js";
import * as fmt from "./format.js";

const PAGE = 50;
const SYSTEM_STREAMS = ["$scavenges", "$groups"];

export function render(main, params) {
  const prefix = params.prefix || "";
  const input = h("input", {
    id: "prefix", name: "prefix", type: "search", value: prefix, autocomplete: "off",
    spellcheck: "false", placeholder: "e.g. order-",
  });
  const results = h("div", { "aria-live": "polite", "data-field": "streams" });
  const pager = h("div", { class: "pager" });
  // Cursors of the pages before this one, for "Previous".
  const before = [];
  let after = null;

  const form = h("form", {
    class: "search", role: "search",
    onsubmit: (e) => {
      e.preventDefault();
      const p = input.value;
      const target = "#/streams" + (p ? "?prefix=" + encodeURIComponent(p) : "");
      if (location.hash === target) load(null); else location.hash = target;
    },
  },
  h("label", { for: "prefix" }, "Stream name starts with"),
  input,
  h("button", { type: "submit" }, "Search"));

  // (replace, not append: it skips the sections left out as null)
  replace(main,
    h("h1", {}, "Streams"),
    form,
    // The system streams an operator may read.
    !ops() ? null : h("p", { class: "muted small" }, "System streams: ",
      SYSTEM_STREAMS.map((s, i) => [i ? ", " : "", link("/stream/" + encodeURIComponent(s), s)]),
      ", and each group's $parked-<group> from its page."),
    results,
    pager);

  async function load(cursor) {
    replace(results, h("p", { class: "muted" }, "Loading…"));
    let page;
    try {
      page = await api.get("/streams", { prefix, after: cursor, limit: PAGE });
    } catch (e) {
      replace(results, errorBox(e));
      return;
    }
    after = cursor;
    replace(results, page.streams.length === 0
      ? h("p", {}, prefix ? `No stream starts with “${prefix}”.` : "No streams yet.")
      : table("Streams", ["Stream", "Last revision", "Last position"],
        page.streams.map((s) => [
          link("/stream/" + encodeURIComponent(s.name), s.name),
          fmt.int(s.revision), fmt.int(s.last_position),
        ])));
    replace(pager,
      h("button", {
        type: "button", disabled: before.length === 0,
        onclick: () => load(before.pop()),
      }, "← Previous page"),
      h("button", {
        type: "button", disabled: !page.next_after,
        onclick: () => { before.push(after); load(page.next_after); },
      }, "Next page →"));
  }

  load(null);
  if (!prefix) input.focus();
  return null;
}

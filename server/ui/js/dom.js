// DOM helpers: build elements from data without ever parsing markup, so
// event data (stream names, types, payloads) is always shown as text.
//
// h("a", {href: "#/x", class: "link", onclick: fn}, "text", child, [more])
//   - attributes: strings set as attributes, `on*` functions as listeners,
//     `false`/`null`/`undefined` skipped, `true` as an empty attribute;
//   - children: strings/numbers as text nodes, nodes as they are, arrays
//     flattened, null/false skipped.

export function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Replaces every child of `el` with `children`.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A table: `columns` are header labels, `rows` arrays of cells (text or
// nodes). Wrapped so that a narrow window scrolls the table, not the page.
export function table(caption, columns, rows, attrs = {}) {
  return h("div", { class: "table-wrap" },
    h("table", attrs,
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((cell) => h("td", {}, cell)))))));
}

// A definition list from [term, value] pairs.
export function dl(pairs, attrs = {}) {
  return h("dl", { class: "facts", ...attrs },
    pairs.filter(Boolean).map(([k, v, field]) => [
      h("dt", {}, k),
      h("dd", field ? { "data-field": field } : {}, v),
    ]));
}

// A link to a route of the page (`#/...`).
export function link(route, text, attrs = {}) {
  return h("a", { href: "#" + route, ...attrs }, text);
}

// Shows a short message in the page's alert region for a few seconds.
let toastTimer = 0;
export function toast(message, kind = "info") {
  const t = document.getElementById("toast");
  t.className = "toast " + kind;
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
}

// A paragraph explaining an error, for a section that could not load.
export function errorBox(err) {
  return h("p", { class: "error", role: "alert" },
    err && err.kind ? `${err.message} (${err.kind})` : String(err && err.message || err));
}

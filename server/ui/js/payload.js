// Shows an event's (or snapshot's) data or metadata: the JSON API sends a
// payload as {bytes, text} (UTF-8) or {bytes, hex}, with truncated: true
// when cut. JSON is pretty-printed and highlighted from its own text, by a
// tokenizer — so key order and numbers stay exactly as stored (no
// JSON.parse rounding of large integers); other text is shown as text, and
// bytes that are not UTF-8 as a hex dump.

import { h } from "./dom.js";
import { bytes as fmtBytes } from "./format.js";

// Highlighting beyond this many characters would make the page slow; such
// payloads are shown as plain (still pretty-printed) text.
const HIGHLIGHT_MAX_CHARS = 200000;

// JSON text → tokens, or null if it is not JSON.
export function tokenize(text) {
  const re = /\s*(?:("(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")|(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([{}\[\]:,]))/y;
  const rest = /\s*$/y;
  const tokens = [];
  let i = 0;
  for (;;) {
    rest.lastIndex = i;
    if (rest.test(text)) break;
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) return null;
    i = re.lastIndex;
    if (m[1] !== undefined) tokens.push({ t: "str", v: m[1] });
    else if (m[2] !== undefined) tokens.push({ t: "num", v: m[2] });
    else if (m[3] !== undefined) tokens.push({ t: "lit", v: m[3] });
    else tokens.push({ t: "punc", v: m[4] });
  }
  return valid(tokens) ? tokens : null;
}

// Checks the token sequence is one JSON value (a small recursive parser).
function valid(tokens) {
  let i = 0;
  const value = () => {
    const tok = tokens[i++];
    if (!tok) return false;
    if (tok.t !== "punc") return true;
    if (tok.v === "{") {
      if (tokens[i] && tokens[i].v === "}") { i++; return true; }
      for (;;) {
        const key = tokens[i++];
        if (!key || key.t !== "str") return false;
        if (!tokens[i] || tokens[i++].v !== ":") return false;
        if (!value()) return false;
        const sep = tokens[i++];
        if (!sep) return false;
        if (sep.v === "}") return true;
        if (sep.v !== ",") return false;
      }
    }
    if (tok.v === "[") {
      if (tokens[i] && tokens[i].v === "]") { i++; return true; }
      for (;;) {
        if (!value()) return false;
        const sep = tokens[i++];
        if (!sep) return false;
        if (sep.v === "]") return true;
        if (sep.v !== ",") return false;
      }
    }
    return false;
  };
  return tokens.length > 0 && value() && i === tokens.length;
}

// Tokens → [{cls, text}] pieces of the pretty-printed text, two-space indent.
export function pretty(tokens) {
  const out = [];
  let depth = 0;
  const nl = () => out.push({ cls: null, text: "\n" + "  ".repeat(depth) });
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const next = tokens[i + 1];
    if (tok.t === "punc") {
      if (tok.v === "{" || tok.v === "[") {
        out.push({ cls: "j-punc", text: tok.v });
        if (next && (next.v === "}" || next.v === "]")) continue;
        depth++;
        nl();
      } else if (tok.v === "}" || tok.v === "]") {
        const prev = tokens[i - 1];
        if (!(prev && (prev.v === "{" || prev.v === "["))) { depth--; nl(); }
        out.push({ cls: "j-punc", text: tok.v });
      } else if (tok.v === ",") {
        out.push({ cls: "j-punc", text: "," });
        nl();
      } else {
        out.push({ cls: "j-punc", text: ": " });
      }
    } else if (tok.t === "str") {
      out.push({ cls: next && next.v === ":" ? "j-key" : "j-str", text: tok.v });
    } else {
      out.push({ cls: tok.t === "num" ? "j-num" : "j-lit", text: tok.v });
    }
  }
  return out;
}

// Bytes as a hex dump: offset, 16 bytes in hex, and their printable ASCII.
export function hexDump(hex) {
  const lines = [];
  for (let off = 0; off < hex.length / 2; off += 16) {
    const chunk = hex.slice(off * 2, off * 2 + 32);
    const pairs = chunk.match(/../g) || [];
    const ascii = pairs.map((p) => {
      const c = parseInt(p, 16);
      return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : ".";
    }).join("");
    lines.push(off.toString(16).padStart(8, "0") + "  " + pairs.join(" ").padEnd(47) + "  " + ascii);
  }
  return lines.join("\n");
}

// The element showing payload `p` of content type `contentType`.
export function payloadView(p, contentType, label) {
  if (!p) return h("span", { class: "muted" }, "—");
  const note = [];
  if (p.truncated) note.push(h("p", { class: "muted small" }, `showing the first part of ${fmtBytes(p.bytes)}`));
  if (p.bytes === 0) return h("span", { class: "muted" }, "(empty)");
  if (p.hex !== undefined) {
    return h("div", {}, h("pre", { class: "payload hex", tabindex: "0", "aria-label": `${label}, hex dump` }, hexDump(p.hex)), note);
  }
  const text = p.text;
  const looksJson = /json/i.test(contentType || "") || /^\s*[{[]/.test(text);
  const tokens = looksJson && !p.truncated ? tokenize(text) : null;
  if (tokens) {
    const pieces = pretty(tokens);
    const pre = h("pre", { class: "payload json", tabindex: "0", "aria-label": `${label}, JSON` });
    if (text.length > HIGHLIGHT_MAX_CHARS) {
      pre.textContent = pieces.map((x) => x.text).join("");
    } else {
      for (const x of pieces) {
        pre.appendChild(x.cls ? h("span", { class: x.cls }, x.text) : document.createTextNode(x.text));
      }
    }
    return h("div", {}, pre, note);
  }
  return h("div", {}, h("pre", { class: "payload text", tabindex: "0", "aria-label": `${label}, text` }, text), note);
}

// One line of a payload for tables: at most `max` characters.
export function preview(p, max = 120) {
  if (!p || p.bytes === 0) return "";
  const s = p.text !== undefined ? p.text.replace(/\s+/g, " ") : "0x" + p.hex;
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

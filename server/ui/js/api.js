// The JSON API (/api/v1, docs/API.md "JSON API"): GETs and POSTs with a
// timeout; a failed request throws an ApiError carrying the server's
// `strata-error` kind (`err.kind`) and message.
//
// Credentials. When the server requires them, the page keeps the
// caller's `Authorization` value (Basic user:password, or Bearer token)
// in sessionStorage — this tab only, gone when it closes, never sent by
// the browser on its own (so no cross-site request carries it) — and
// sends it on every request, the live tail's included. A 401 never opens
// the browser's own password dialog: the JSON API challenges with
// Bearer, not Basic, and requests omit the browser's own credentials.
// Any 401 signs the page out: `onUnauthenticated` (app.js) shows the
// login page.

const BASE = "/api/v1";
const TIMEOUT_MS = 15000;
const AUTH_KEY = "strata.authorization";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.kind = (body && body.error) || "http-" + status;
    this.body = body || {};
  }
}

// The stored Authorization value, or null (none given, or anonymous mode).
export function authorization() {
  try { return sessionStorage.getItem(AUTH_KEY); } catch (_) { return null; }
}

export function remember(value) {
  sessionStorage.setItem(AUTH_KEY, value);
}

export function forget() {
  try { sessionStorage.removeItem(AUTH_KEY); } catch (_) { /* storage disabled */ }
}

// `Basic` credentials: base64 of the UTF-8 bytes of "user:password".
export function basic(user, password) {
  const bytes = new TextEncoder().encode(user + ":" + password);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return "Basic " + btoa(bin);
}

export function bearer(token) {
  return "Bearer " + token.trim();
}

// Called with the ApiError of any 401 (set by app.js).
let unauthenticated = () => {};
export function onUnauthenticated(fn) {
  unauthenticated = fn;
}

function headers(extra, auth = authorization()) {
  const h = { ...extra };
  if (auth) h.Authorization = auth;
  return h;
}

// What fetch needs besides method, headers and body.
const FETCH = { credentials: "omit", cache: "no-store" };

// "/streams/" + the name, escaped for a path segment.
export function seg(name) {
  return encodeURIComponent(name);
}

export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return BASE + path + (s ? "?" + s : "");
}

async function request(method, path, params, body, auth) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(url(path, params), {
      ...FETCH,
      method,
      signal: ctl.signal,
      headers: headers(body === undefined ? { Accept: "application/json" }
        : { Accept: "application/json", "Content-Type": "application/json" }, auth),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try { json = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(0, { error: "unreachable", message: "the server did not answer: " + e.message });
  } finally {
    clearTimeout(timer);
  }
}

async function checked(method, path, params, body) {
  try {
    return await request(method, path, params, body);
  } catch (e) {
    if (e.status === 401) unauthenticated(e);
    throw e;
  }
}

export const get = (path, params) => checked("GET", path, params);
export const post = (path, body = {}) => checked("POST", path, {}, body);

// GET /me with the stored credentials, or with `auth` (a login attempt:
// a 401 is the caller's to show, not a sign-out).
export const me = (auth) => (auth === undefined ? request("GET", "/me") : request("GET", "/me", {}, undefined, auth));

// The live tail's Server-Sent Events, read with fetch() so that the
// request can carry credentials (EventSource cannot send headers). Like
// an EventSource: it dispatches "open", one MessageEvent per frame under
// the frame's event name ("events", "caught-up", "checkpoint",
// "failure"), and "error" when the connection is lost; it reconnects
// after the server's `retry:` delay with the last frame's id as
// Last-Event-ID, so nothing is missed or repeated. A refusal (an HTTP
// error) is a "failure" with the JSON error body; it then retries unless
// closed — a 401 signs the page out instead.
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSED = 2;

export class Tail extends EventTarget {
  constructor(params) {
    super();
    this.path = url("/tail", params);
    this.lastEventId = "";
    this.retryMs = 2000;
    this.readyState = CONNECTING;
    this.ctl = null;
    this.timer = 0;
    this.connect();
  }

  close() {
    this.readyState = CLOSED;
    clearTimeout(this.timer);
    if (this.ctl) this.ctl.abort();
  }

  async connect() {
    if (this.readyState === CLOSED) return;
    this.readyState = CONNECTING;
    this.ctl = new AbortController();
    const extra = { Accept: "text/event-stream" };
    if (this.lastEventId) extra["Last-Event-ID"] = this.lastEventId;
    let res;
    try {
      res = await fetch(this.path, { ...FETCH, headers: headers(extra), signal: this.ctl.signal });
    } catch (_) {
      this.lost();
      return;
    }
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch (_) { /* not JSON */ }
      const err = new ApiError(res.status, body);
      if (res.status === 401) {
        this.close();
        unauthenticated(err);
        return;
      }
      this.emit("failure", JSON.stringify({ error: err.kind, message: err.message }));
      this.retry();
      return;
    }
    this.readyState = OPEN;
    this.dispatchEvent(new Event("open"));
    try {
      await this.read(res.body.getReader());
    } catch (_) { /* lost or closed */ }
    this.lost();
  }

  // Parses the stream as the SSE format says (lines ending in \n or
  // \r\n; `event`, `data`, `id`, `retry` fields; `:` comments).
  async read(reader) {
    const decoder = new TextDecoder();
    let buf = "";
    let event = "";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line === "") {
          if (data.length) this.emit(event || "message", data.join("\n"));
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? "" : line.slice(colon + 1);
        if (v.startsWith(" ")) v = v.slice(1);
        if (field === "event") event = v;
        else if (field === "data") data.push(v);
        else if (field === "id" && !v.includes("\0")) this.lastEventId = v;
        else if (field === "retry" && /^\d+$/.test(v)) this.retryMs = Number(v);
      }
    }
  }

  emit(type, data) {
    if (this.readyState === CLOSED) return;
    this.dispatchEvent(new MessageEvent(type, { data, lastEventId: this.lastEventId }));
  }

  lost() {
    if (this.readyState === CLOSED) return;
    this.readyState = CONNECTING;
    this.dispatchEvent(new Event("error"));
    this.retry();
  }

  retry() {
    if (this.readyState === CLOSED) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.retryMs);
  }
}

export function tail(params) {
  return new Tail(params);
}

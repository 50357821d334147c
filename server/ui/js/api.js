// The JSON API (/api/v1, docs/API.md "JSON API"): GETs and POSTs with a
// timeout; a failed request throws an ApiError carrying the server's
// `strata-error` kind (`err.kind`) and message.

const BASE = "/api/v1";
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.kind = (body && body.error) || "http-" + status;
    this.body = body || {};
  }
}

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

async function request(method, path, params, body) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(url(path, params), {
      method,
      signal: ctl.signal,
      headers: body === undefined ? { Accept: "application/json" }
        : { Accept: "application/json", "Content-Type": "application/json" },
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

export const get = (path, params) => request("GET", path, params);
export const post = (path, body = {}) => request("POST", path, {}, body);

// Server-Sent Events of the live tail.
export function tail(params) {
  return new EventSource(url("/tail", params));
}

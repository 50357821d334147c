// What the signed-in caller may do, from GET /api/v1/me: the pages offer
// only that (links, buttons, whole pages). Hiding is a courtesy, not the
// boundary — the server checks every request (api/http/access.rs and the
// handlers) whatever the page shows.
//
// The rules mirror the server's (domain/security/authz.rs): an admin may
// do everything; `ops` runs scavenges and consumer groups and reads their
// system streams; everyone else needs a grant — a permission on the
// streams whose names start with its prefix.

const OPS_READABLE = ["$scavenges", "$groups", "$checkpoint-", "$parked-"];

// Before /me answers: nothing.
let me = { name: "", authenticated: false, auth_enabled: false, admin: false, ops: false, grants: [] };

export function set(value) {
  me = { grants: [], ...value };
}

export function current() {
  return me;
}

// Whether `perm` ("read", "write", "delete", "metadata", "subscribe") on
// `stream` is allowed.
export function may(perm, stream) {
  if (me.admin) return true;
  if (stream.startsWith("$$")) return perm === "read" && may("read", stream.slice(2));
  if (stream.startsWith("$")) {
    return (perm === "read" || perm === "subscribe") && me.ops && OPS_READABLE.some((p) => stream.startsWith(p));
  }
  return me.grants.some((g) => stream.startsWith(g.prefix) && g.permissions.includes(perm));
}

// Whether the live tail can show anything: it delivers the streams
// granted `subscribe`.
export function mayTail() {
  return me.admin || me.grants.some((g) => g.permissions.includes("subscribe"));
}

// Consumer groups and scavenges.
export function ops() {
  return me.ops;
}

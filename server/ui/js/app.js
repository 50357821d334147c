// The page shell: a hash router (#/, #/streams, #/stream/<name>,
// #/event/<name>/<revision>, #/tail, #/groups, #/group/<name>,
// #/scavenge), the navigation's current page, the readiness pill, and
// who is signed in.
//
// At start it asks GET /api/v1/me who the caller is. With authentication
// off (the loopback default) the answer is an anonymous admin and the
// pages show at once, as they always did. With it on and no accepted
// credentials in this tab, the login page (login.js) shows instead; once
// signed in, the navigation offers only the pages the caller may use
// (access.js) and the header has a Sign out button. A 401 from any
// request later (a changed password, a revoked token) returns to the
// login page.
//
// Each page module exports `render(main, params)`, which fills `main` and
// returns a function that stops whatever it started (polling, the live
// tail's connection) — called before the next page renders.

import * as api from "./api.js";
import * as access from "./access.js";
import * as login from "./login.js";
import * as dashboard from "./dashboard.js";
import * as streams from "./streams.js";
import * as stream from "./stream.js";
import * as tail from "./tail.js";
import * as groups from "./groups.js";
import * as scavenge from "./scavenge.js";
import { errorBox, h, replace } from "./dom.js";

const always = () => true;
const ROUTES = [
  { re: /^\/?$/, page: dashboard, nav: "dashboard", title: "Dashboard", may: always },
  { re: /^\/streams$/, page: streams, nav: "streams", title: "Streams", may: always },
  { re: /^\/stream\/(.+)$/, page: stream, nav: "streams", title: "Stream", args: ["stream"], may: always },
  { re: /^\/event\/(.+)\/(\d+)$/, page: stream, nav: "streams", title: "Event", args: ["stream", "revision"], may: always },
  { re: /^\/tail$/, page: tail, nav: "tail", title: "Live tail", may: access.mayTail },
  { re: /^\/groups$/, page: groups, nav: "groups", title: "Consumer groups", may: access.ops },
  { re: /^\/group\/(.+)$/, page: groups, nav: "groups", title: "Consumer group", args: ["group"], may: access.ops },
  { re: /^\/scavenge$/, page: scavenge, nav: "scavenge", title: "Scavenge", may: access.ops },
];
// Which navigation item needs what.
const NAV = { dashboard: always, streams: always, tail: access.mayTail, groups: access.ops, scavenge: access.ops };

let stop = null;
// Signed in (or anonymous): pages may show.
let ready = false;

function stopPage() {
  if (stop) { try { stop(); } catch (_) { /* already stopped */ } stop = null; }
}

function route() {
  if (!ready) return;
  const hash = location.hash || "#/";
  // Other fragments (the skip link's #main) are not routes.
  if (!hash.startsWith("#/")) return;
  const [path, query] = hash.slice(1).split("?");
  const main = document.getElementById("main");
  stopPage();
  const r = ROUTES.find((x) => x.re.test(path));
  if (!r) {
    document.title = "Not found · Strata";
    replace(main, errorBox(new Error("There is no page " + path)));
    return;
  }
  const m = path.match(r.re);
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  (r.args || []).forEach((name, i) => { params[name] = decodeURIComponent(m[i + 1]); });
  for (const a of document.querySelectorAll("nav a[data-nav]")) {
    if (a.dataset.nav === r.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = r.title + " · Strata";
  replace(main);
  if (!r.may()) {
    replace(main, h("h1", {}, r.title),
      h("p", { class: "error", role: "alert", "data-field": "not-allowed" },
        `${access.current().name} may not use this page; an administrator can grant it.`));
  } else {
    stop = r.page.render(main, params) || null;
  }
  // Keyboard and screen-reader users land on the new page's heading.
  const h1 = main.querySelector("h1");
  if (h1 && document.activeElement && document.activeElement.closest("nav")) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}

// The header for `me`: the navigation items it may use, who it is.
// `fromLogin`: the login form is gone, so focus goes to the page's heading.
function showSignedIn(me, fromLogin = false) {
  access.set(me);
  ready = true;
  const nav = document.querySelector("header nav");
  nav.hidden = false;
  for (const a of nav.querySelectorAll("a[data-nav]")) {
    a.parentElement.hidden = !(NAV[a.dataset.nav] || always)();
  }
  const who = document.getElementById("user");
  if (me.authenticated) {
    replace(who,
      h("span", { class: "user-name", "data-field": "user" },
        h("span", { class: "sr-only" }, "Signed in as "), me.name),
      // Nothing to forget when a client certificate signed the tab in.
      api.authorization() ? h("button", { type: "button", class: "sign-out", "data-field": "sign-out", onclick: signOut }, "Sign out") : null);
    who.hidden = false;
  } else {
    replace(who);
    who.hidden = true;
  }
  route();
  const h1 = document.querySelector("#main h1");
  if (fromLogin && h1 && !document.querySelector("#main").contains(document.activeElement)) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}

// The login page instead of any other; `notice` says why, if not the
// first visit.
function showLogin(notice) {
  ready = false;
  stopPage();
  access.set({});
  document.querySelector("header nav").hidden = true;
  const who = document.getElementById("user");
  replace(who);
  who.hidden = true;
  document.title = "Sign in · Strata";
  const main = document.getElementById("main");
  replace(main);
  login.render(main, { notice, signedIn: (me) => showSignedIn(me, true) });
}

function signOut() {
  api.forget();
  showLogin("Signed out.");
}

api.onUnauthenticated((err) => {
  if (!ready) return;
  api.forget();
  showLogin(`Signed out: the server no longer accepts these credentials (${err.message}).`);
});

async function start() {
  try {
    showSignedIn(await api.me());
  } catch (e) {
    if (e.status === 401) {
      const had = api.authorization();
      api.forget();
      showLogin(had ? `The saved credentials were refused (${e.message}).` : null);
      return;
    }
    // Unreachable or failing: say so, and try again shortly.
    replace(document.getElementById("main"), errorBox(e));
    setTimeout(start, 3000);
  }
}

async function health() {
  const pill = document.getElementById("health");
  try {
    const res = await fetch("/health/ready", { cache: "no-store" });
    const body = await res.json();
    pill.textContent = res.ok ? "ready" : "not ready: " + (body.reason || res.status);
    pill.className = "pill " + (res.ok ? "ok" : "bad");
  } catch (_) {
    pill.textContent = "unreachable";
    pill.className = "pill bad";
  }
}

window.addEventListener("hashchange", route);
start();
health();
setInterval(health, 5000);

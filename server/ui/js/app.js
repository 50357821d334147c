// The page shell: a hash router (#/, #/streams, #/stream/<name>,
// #/event/<name>/<revision>, #/tail, #/groups, #/group/<name>,
// #/scavenge), the navigation's current page, and the readiness pill.
//
// Each page module exports `render(main, params)`, which fills `main` and
// returns a function that stops whatever it started (polling, the live
// tail's connection) — called before the next page renders.

import * as dashboard from "./dashboard.js";
import * as streams from "./streams.js";
import * as stream from "./stream.js";
import * as tail from "./tail.js";
import * as groups from "./groups.js";
import * as scavenge from "./scavenge.js";
import { errorBox, replace } from "./dom.js";

const ROUTES = [
  { re: /^\/?$/, page: dashboard, nav: "dashboard", title: "Dashboard" },
  { re: /^\/streams$/, page: streams, nav: "streams", title: "Streams" },
  { re: /^\/stream\/(.+)$/, page: stream, nav: "streams", title: "Stream", args: ["stream"] },
  { re: /^\/event\/(.+)\/(\d+)$/, page: stream, nav: "streams", title: "Event", args: ["stream", "revision"] },
  { re: /^\/tail$/, page: tail, nav: "tail", title: "Live tail" },
  { re: /^\/groups$/, page: groups, nav: "groups", title: "Consumer groups" },
  { re: /^\/group\/(.+)$/, page: groups, nav: "groups", title: "Consumer group", args: ["group"] },
  { re: /^\/scavenge$/, page: scavenge, nav: "scavenge", title: "Scavenge" },
];

let stop = null;

function route() {
  const hash = location.hash || "#/";
  // Other fragments (the skip link's #main) are not routes.
  if (!hash.startsWith("#/")) return;
  const [path, query] = hash.slice(1).split("?");
  const main = document.getElementById("main");
  if (stop) { try { stop(); } catch (_) { /* already stopped */ } stop = null; }
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
  stop = r.page.render(main, params) || null;
  // Keyboard and screen-reader users land on the new page's heading.
  const h1 = main.querySelector("h1");
  if (h1 && document.activeElement && document.activeElement.closest("nav")) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
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
route();
health();
setInterval(health, 5000);

"""The admin web UI in a real browser: headless Chromium driven by Selenium
through chromedriver (both from the Debian packages), against the real
`strata` binary with data.

It starts its own server on a fresh data directory, seeds streams, a
snapshot and a consumer group over gRPC (stubs generated from proto/ into
a temporary directory), and checks, page by page:

- the dashboard renders live numbers (the head follows appends, the
  throughput chart draws);
- keyboard only: Tab to "Streams", search a prefix, open a stream, open
  an event: its JSON is pretty-printed and highlighted; a binary event is
  a hex dump; the stream's metadata and snapshot show;
- deleting a stream needs its name typed to confirm;
- the live tail shows an event appended during the test within a second,
  honours its filters, pauses, and resumes a lost connection after the
  last frame's id (Last-Event-ID);
- a parked event appears in its group with its reason, and replaying it
  empties the parked list;
- a scavenge starts, completes and shows in the history;
- every page fits a narrow (400 px) window, text contrast is at least
  4.5:1, and the browser logged no script or policy errors;
- with authentication on (a second server, its first admin and a reader
  with read and subscribe on `shared-` added over gRPC): every page asks
  for a login first, and a 401 to the page's scripts never challenges
  with Basic (no browser dialog); a wrong password shows the server's
  message; the admin sees delete and scavenge and stays signed in across
  a reload (sessionStorage, never localStorage); the reader sees only
  `shared-` streams, no delete, no groups or scavenge, and a live tail of
  only its streams; a bearer token signs in too; Sign out returns to the
  login page and forgets the credentials.

A screenshot of each page (1280×800) goes to $UI_SCREENSHOTS (default
target/ui-screenshots); with --update-docs they are copied to docs/ui/.

    STRATA_BIN=target/debug/strata .venv/bin/python scripts/tests/ui_test.py

Needs: selenium (scripts/tests/ui-requirements.txt), grpcio-tools, and
/usr/bin/chromium + /usr/bin/chromedriver (or $CHROMIUM, $CHROMEDRIVER).
"""

import base64
import json
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STRATA = os.environ.get("STRATA_BIN", os.path.join(ROOT, "target", "debug", "strata"))
SHOTS = os.environ.get("UI_SCREENSHOTS", os.path.join(ROOT, "target", "ui-screenshots"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 10


def generate_stubs():
    """Python stubs for the services the test seeds data through."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="strata-ui-stubs-")
    protos = ["streams.proto", "persistent.proto", "snapshots.proto", "security.proto"]
    args = ["protoc", f"-I{ROOT}/proto", f"--python_out={out}", f"--grpc_python_out={out}"]
    args += [f"{ROOT}/proto/strata/v1/{p}" for p in protos]
    if protoc.main(args) != 0:
        sys.exit("generating the gRPC stubs failed")
    sys.path.insert(0, out)
    return out


STUBS = generate_stubs()

import grpc  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from strata.v1 import persistent_pb2 as ppb  # noqa: E402
from strata.v1 import security_pb2 as secpb  # noqa: E402
from strata.v1 import security_pb2_grpc as secpb_grpc  # noqa: E402
from strata.v1 import persistent_pb2_grpc as ppb_grpc  # noqa: E402
from strata.v1 import snapshots_pb2 as snpb  # noqa: E402
from strata.v1 import snapshots_pb2_grpc as snpb_grpc  # noqa: E402
from strata.v1 import streams_pb2 as spb  # noqa: E402
from strata.v1 import streams_pb2_grpc as spb_grpc  # noqa: E402

PARK_REASON = "ui test: card declined"
ADMIN_PASSWORD = "ui-admin-" + uuid.uuid4().hex[:8]
READER_PASSWORD = "ui-reader-" + uuid.uuid4().hex[:8]


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def start_server(data):
    log = open(os.path.join(data, "server.log"), "w+")
    proc = subprocess.Popen(
        [STRATA, "serve", "--data-dir", os.path.join(data, "data"), "--listen", "127.0.0.1:0"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log.seek(0)
        m = re.search(r"^strata listening on (\S+)$", log.read(), re.M)
        if m:
            return proc, m.group(1), log
        check(proc.poll() is None, "the server exited at start")
        time.sleep(0.05)
    raise Failed("the server did not start")


def event(ty, data, content_type="application/json", metadata=b""):
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    return spb.ProposedEvent(id=str(uuid.uuid4()), type=ty, content_type=content_type,
                             data=data, metadata=metadata)


class Parker(threading.Thread):
    """A consumer of a group that parks the first delivery of revision 0
    and acks everything else (a replayed event included)."""

    def __init__(self, stub, group):
        super().__init__(daemon=True)
        self.requests = queue.Queue()
        self.requests.put(ppb.GroupReadRequest(options=ppb.GroupReadRequest.Options(
            group=group, buffer_size=10, consumer_name="ui-test-worker")))
        self.call = stub.Read(iter(self.requests.get, None), timeout=120)
        self.parked = False
        self.acked = []
        self.error = None

    def run(self):
        try:
            for msg in self.call:
                if msg.WhichOneof("content") != "events":
                    continue
                ack = []
                for ge in msg.events.events:
                    if ge.event.revision == 0 and not self.parked:
                        self.parked = True
                        self.requests.put(ppb.GroupReadRequest(nack=ppb.GroupReadRequest.Nack(
                            ids=[ge.event.id], action=ppb.NACK_ACTION_PARK, reason=PARK_REASON)))
                    else:
                        ack.append(ge.event.id)
                if ack:
                    self.acked += ack
                    self.requests.put(ppb.GroupReadRequest(ack=ppb.GroupReadRequest.Ack(ids=ack)))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                self.error = err
        finally:
            self.requests.put(None)

    def stop(self):
        self.call.cancel()
        self.join(TIMEOUT)


class Traffic(threading.Thread):
    """A light, uneven load (ui-load-* streams) so the dashboard's rates
    and chart have something to show; `warm_up` seconds of it first."""

    def __init__(self, append):
        super().__init__(daemon=True)
        self.append = append
        self.stopping = threading.Event()

    def run(self):
        i = 0
        while not self.stopping.is_set():
            burst = 1 + int(4 * (1 + math.sin(i / 40)))
            try:
                self.append(f"ui-load-{i % 3}", [event("Load", {"i": i, "k": k}) for k in range(burst)])
            except grpc.RpcError:
                return
            i += 1
            self.stopping.wait(0.05)

    def stop(self):
        self.stopping.set()
        self.join(TIMEOUT)


def seed(channel):
    streams = spb_grpc.StreamsStub(channel)
    append = lambda s, evs: streams.Append(  # noqa: E731
        spb.AppendRequest(stream=s, any=spb.Empty(), events=evs), timeout=TIMEOUT)
    meta = json.dumps({"$correlationId": "c-42", "source": "ui-test"}).encode()
    append("ui-order-1", [
        event("OrderPlaced", {"order": "ui-order-1", "customer": {"name": "Ada", "vip": True},
                              "lines": [{"sku": "A-1", "qty": 2, "price": 9.5}], "total": 19.0,
                              "note": None}, metadata=meta),
        event("OrderPaid", {"order": "ui-order-1", "amount": 19.0}),
        event("OrderShipped", {"order": "ui-order-1", "carrier": "post"}),
    ])
    append("ui-order-2", [event("OrderPlaced", {"n": i}) for i in range(25)])
    append("ui-user-1", [event("UserRegistered", {"email": "ada@example.com"})])
    append("ui-blob-1", [event("Blob", bytes(range(0, 256, 7)), "application/octet-stream")])
    snaps = snpb_grpc.SnapshotsStub(channel)
    snaps.SaveSnapshot(snpb.SaveSnapshotRequest(stream="ui-order-1", revision=2, type="Order",
                                        schema_version=1, data=b'{"status":"shipped"}'),
               timeout=TIMEOUT)
    groups = ppb_grpc.PersistentSubscriptionsStub(channel)
    groups.Create(ppb.CreateGroupRequest(group="ui-billing", stream="ui-order-1", start=spb.Empty()),
                  timeout=TIMEOUT)
    parker = Parker(groups, "ui-billing")
    parker.start()
    return streams, parker, append


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,800", "--force-prefers-reduced-motion", "--lang=en-US"]:
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait(driver, what, cond, timeout=TIMEOUT, poll=0.05):
    """Polls `cond` until truthy; an element replaced meanwhile (pages
    re-render what changed) is looked up again."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=poll,
                             ignored_exceptions=[StaleElementReferenceException]).until(lambda d: cond(d))
    except TimeoutException:
        raise Failed(f"timed out waiting for {what}") from None


def field(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f'[data-field="{name}"]')


def viewport(driver, width, height):
    """The page's viewport, exactly (the window's frame aside)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def shot(driver, name):
    os.makedirs(SHOTS, exist_ok=True)
    # A toast left by an earlier page is not part of this one.
    driver.execute_script("document.getElementById('toast').hidden = true")
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def go(driver, base, route):
    driver.get(f"{base}/ui/#{route}")


# Each text-bearing element checked: its colour against the first opaque
# background behind it, WCAG 2 contrast ratio.
CONTRAST_JS = """
const lum = (c) => {
  const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const bg = (el) => {
  for (; el; el = el.parentElement) {
    const c = getComputedStyle(el).backgroundColor;
    const a = c.match(/[\\d.]+/g);
    if (a && (a.length < 4 || Number(a[3]) > 0.9)) return c;
  }
  return "rgb(255, 255, 255)";
};
const worst = [];
for (const el of document.querySelectorAll(arguments[0])) {
  if (!el.textContent.trim() || !el.offsetParent) continue;
  const fg = getComputedStyle(el).color;
  const [l1, l2] = [lum(fg), lum(bg(el))].sort((a, b) => b - a);
  const ratio = (l1 + 0.05) / (l2 + 0.05);
  if (ratio < 4.5) worst.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
}
return worst;
"""

TEXT_SELECTORS = ("body, a, p, td, th, dt, dd, h1, h2, summary, span, label, button, caption, "
                  "pre, .pill, .muted, .stat-label, .stat-value")


def check_page(driver, name):
    """Fits a narrow window, readable contrast."""
    bad = driver.execute_script(CONTRAST_JS, TEXT_SELECTORS)
    check(not bad, f"{name}: text below 4.5:1 contrast: {bad[:5]}")
    viewport(driver, 400, 800)
    try:
        over = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(over <= 1, f"{name}: a 400 px window scrolls sideways by {over} px")
        if name == "dashboard":
            shot(driver, "dashboard-narrow")
    finally:
        viewport(driver, 1280, 800)


def test_dashboard(driver, base, append):
    go(driver, base, "/")
    head = wait(driver, "the head position", lambda d: re.fullmatch(r"[\d,]+", field(d, "head").text))
    before = int(head.group(0).replace(",", ""))
    res = append("ui-live-1", [event("Ping", {"i": i}) for i in range(5)])
    check(res.last_position >= before + 5, "appends moved the head")
    number = lambda text: int(text.replace(",", "")) if re.fullmatch(r"[\d,]+", text) else -1  # noqa: E731
    wait(driver, f"the dashboard's head to reach {res.last_position}",
         lambda d: number(field(d, "head").text) >= res.last_position, timeout=6)
    wait(driver, "a rate above zero", lambda d: re.fullmatch(r"[\d,.]+", field(d, "events-rate").text)
         and float(field(d, "events-rate").text.replace(",", "")) > 0, timeout=6)
    wait(driver, "the throughput chart", lambda d: d.find_elements(By.CSS_SELECTOR, ".chart polyline"), timeout=6)
    wait(driver, "append latency", lambda d: field(d, "append-p50").text.endswith("s"))
    wait(driver, "the group on the dashboard",
         lambda d: "ui-billing" in field(d, "groups").text)
    wait(driver, "the dashboard to say ready", lambda d: field(d, "status").text.startswith("Ready"))
    wait(driver, "free disk space", lambda d: re.search(r"\d", field(d, "free-bytes").text))
    shot(driver, "dashboard")
    check_page(driver, "dashboard")


def test_streams_by_keyboard(driver, base):
    go(driver, base, "/")
    wait(driver, "the page", lambda d: d.find_elements(By.CSS_SELECTOR, "nav a"))
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    check(driver.switch_to.active_element.text == "Skip to content", "the skip link comes first")
    for _ in range(6):
        if driver.switch_to.active_element.text == "Streams":
            break
        driver.switch_to.active_element.send_keys(Keys.TAB)
    check(driver.switch_to.active_element.text == "Streams", "Tab reaches the Streams link")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait(driver, "the search box to have focus",
         lambda d: d.switch_to.active_element.get_attribute("id") == "prefix")
    driver.switch_to.active_element.send_keys("ui-order-", Keys.ENTER)
    wait(driver, "the streams found",
         lambda d: "ui-order-2" in field(d, "streams").text and "ui-order-1" in field(d, "streams").text)
    check("ui-user-1" not in field(driver, "streams").text, "the prefix filters")
    shot(driver, "streams")
    check_page(driver, "streams")
    # Tab from the search box to the first stream's link.
    driver.find_element(By.ID, "prefix").click()
    for _ in range(8):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.switch_to.active_element.text == "ui-order-1":
            break
    check(driver.switch_to.active_element.text == "ui-order-1", "Tab reaches the stream's link")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait(driver, "the stream's events", lambda d: len(d.find_elements(By.CSS_SELECTOR, "details.event[data-revision]")) == 3)
    newest = driver.find_elements(By.CSS_SELECTOR, "details.event[data-revision]")
    check([e.get_attribute("data-revision") for e in newest] == ["2", "1", "0"], "newest first")
    oldest = newest[-1]
    oldest.find_element(By.TAG_NAME, "summary").send_keys(Keys.ENTER)
    wait(driver, "the event to open", lambda d: oldest.get_attribute("open") is not None)
    pre = oldest.find_elements(By.CSS_SELECTOR, "pre.payload.json")
    check(len(pre) == 2, f"metadata and data shown as JSON ({len(pre)})")
    data = pre[1].text
    check('"customer": {' in data and '\n    "name": "Ada"' in data, f"pretty JSON: {data!r}")
    keys = [k.text for k in pre[1].find_elements(By.CSS_SELECTOR, ".j-key")]
    check(keys[:3] == ['"order"', '"customer"', '"name"'], f"keys highlighted in order: {keys}")
    check(pre[1].find_elements(By.CSS_SELECTOR, ".j-lit"), "literals highlighted")
    check('"$correlationId": "c-42"' in pre[0].text, "metadata shown")
    body = oldest.text
    for what in ["OrderPlaced", "Revision", "Position", "Time", "Id", "application/json"]:
        check(what in body, f"the event shows {what}")
    wait(driver, "the snapshot", lambda d: "Order" in field(d, "snapshots").text and "@2" in field(d, "snapshots").text)
    check("live" in field(driver, "state").text, "metadata state")
    driver.execute_script("arguments[0].scrollIntoView()", oldest)
    shot(driver, "stream")
    check_page(driver, "stream")

    # Paging: 25 events, 20 a page.
    go(driver, base, "/stream/ui-order-2")
    wait(driver, "a page of 20", lambda d: len(d.find_elements(By.CSS_SELECTOR, "details.event")) == 20)
    driver.find_element(By.XPATH, "//button[contains(., 'Older')]").click()
    wait(driver, "the older page", lambda d: [e.get_attribute("data-revision") for e in
                                             d.find_elements(By.CSS_SELECTOR, "details.event")] == [str(r) for r in range(4, -1, -1)])

    # Bytes that are not UTF-8: a hex dump.
    go(driver, base, "/stream/ui-blob-1")
    ev = wait(driver, "the blob", lambda d: d.find_elements(By.CSS_SELECTOR, "details.event"))[0]
    ev.find_element(By.TAG_NAME, "summary").click()
    hexdump = wait(driver, "the hex dump", lambda d: ev.find_elements(By.CSS_SELECTOR, "pre.payload.hex"))[0].text
    check(hexdump.startswith("00000000  00 07 0e 15"), f"hex dump {hexdump[:40]!r}")


def test_delete_with_confirmation(driver, base):
    go(driver, base, "/stream/ui-user-1")
    wait(driver, "the event", lambda d: d.find_elements(By.CSS_SELECTOR, "details.event"))
    driver.find_element(By.XPATH, "//button[normalize-space()='Delete…']").click()
    confirm = driver.find_element(By.XPATH, "//button[normalize-space()='Delete stream']")
    check(not confirm.is_enabled(), "delete needs the name first")
    driver.find_element(By.ID, "confirm-name").send_keys("ui-user-")
    check(not confirm.is_enabled(), "a wrong name does not enable delete")
    driver.find_element(By.ID, "confirm-name").send_keys("1")
    check(confirm.is_enabled(), "the right name enables delete")
    confirm.click()
    wait(driver, "the stream to show deleted", lambda d: "deleted" in field(d, "state").text)


def test_tail(driver, base, append):
    go(driver, base, "/tail?prefixes=ui-tail-")
    wait(driver, "the tail to be live", lambda d: field(d, "tail-state").text == "live")
    t0 = time.monotonic()
    append("ui-other-1", [event("TailSkipped", {"x": 1})])
    res = append("ui-tail-1", [event("TailArrived", {"msg": "hello from the test"})])
    wait(driver, "the appended event in the tail",
         lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-position="{res.last_position}"]'),
         timeout=1.0, poll=0.02)
    took = time.monotonic() - t0
    check(took < 1.0, f"the tail showed the event after {took:.3f} s")
    rows = field(driver, "tail-rows").text
    check("TailArrived" in rows and "hello from the test" in rows, "the row shows type and data")
    check("TailSkipped" not in rows, "the prefix filter holds")
    # Paused: new events wait, and appear on resume.
    field(driver, "pause").click()
    res2 = append("ui-tail-2", [event("WhilePaused", {"n": 1})])
    wait(driver, "one waiting event", lambda d: "1 waiting" in field(d, "tail-count").text)
    check(not driver.find_elements(By.CSS_SELECTOR, f'tr[data-position="{res2.last_position}"]'),
          "nothing is shown while paused")
    field(driver, "pause").click()
    wait(driver, "the waiting event after resume",
         lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-position="{res2.last_position}"]'))
    print(f"  tail latency {took * 1000:.0f} ms")
    # A lost connection resumes after the last frame's id (Last-Event-ID,
    # sent by api.Tail itself): resuming after the first event brings the
    # second again.
    resumed = driver.execute_async_script("""
        const [after, want, done] = arguments;
        import('/ui/js/api.js').then((api) => {
          const t = new api.Tail({prefixes: 'ui-tail-'});
          const seen = [];
          let cut = false;
          t.addEventListener('caught-up', () => {
            if (cut) return;
            cut = true;
            t.retryMs = 50;
            t.lastEventId = String(after);
            t.ctl.abort();
          });
          t.addEventListener('events', (m) => {
            seen.push(...JSON.parse(m.data).map((e) => e.position));
            if (seen.includes(want)) { t.close(); done(seen); }
          });
          setTimeout(() => { t.close(); done(['timed out', ...seen]); }, 5000);
        });""", res.last_position, res2.last_position)
    check(resumed == [res2.last_position], f"the tail resumed after {res.last_position}: {resumed}")
    shot(driver, "tail")
    check_page(driver, "tail")


def test_groups(driver, base, parker):
    go(driver, base, "/groups")
    wait(driver, "the group with a parked event",
         lambda d: "ui-billing" in field(d, "groups").text and d.find_elements(By.CSS_SELECTOR, "[data-field=groups] strong.bad-text"))
    shot(driver, "groups")
    check_page(driver, "groups")
    driver.find_element(By.LINK_TEXT, "ui-billing").click()
    item = wait(driver, "the parked event with its reason",
                lambda d: [li for li in d.find_elements(By.CSS_SELECTOR, "[data-field=parked] li") if PARK_REASON in li.text])[0]
    check("ui-order-1 #0" in item.text, f"the parked event's origin: {item.text}")
    wait(driver, "the consumer", lambda d: "ui-test-worker" in field(d, "consumers").text)
    wait(driver, "parked count 1", lambda d: field(d, "parked-count").text == "1")
    item.find_element(By.TAG_NAME, "summary").click()
    shot(driver, "group")
    check_page(driver, "group")
    field(driver, "replay").click()
    wait(driver, "the parked list to empty",
         lambda d: d.find_elements(By.CSS_SELECTOR, "[data-field=parked-empty]"), timeout=15)
    check(parker.parked and len(parker.acked) == 3, f"the replayed event was acked ({parker.acked})")


def test_scavenge(driver, base):
    go(driver, base, "/scavenge")
    wait(driver, "no scavenge yet", lambda d: "No scavenge" in field(d, "scavenge-current").text)
    rate = driver.find_element(By.ID, "rate")
    rate.clear()
    rate.send_keys("0")
    field(driver, "start").click()
    wait(driver, "the scavenge to complete", lambda d: field(d, "scavenge-state").text == "completed", timeout=20)
    wait(driver, "the history row", lambda d: "completed" in field(d, "scavenge-history").text)
    shot(driver, "scavenge")
    check_page(driver, "scavenge")


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def seed_auth(addr):
    """Authentication on: the first user of a loopback server must be an
    admin, and adding it turns authentication on; then a reader with read
    and subscribe on shared-*, a bearer token of its own, and two streams."""
    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    sec = secpb_grpc.SecurityStub(channel)
    sec.AddUser(secpb.AddUserRequest(name="admin", password=ADMIN_PASSWORD, roles=["admin"]), timeout=TIMEOUT)
    admin = [("authorization", basic("admin", ADMIN_PASSWORD))]
    sec.AddUser(secpb.AddUserRequest(name="reader", password=READER_PASSWORD), metadata=admin, timeout=TIMEOUT)
    sec.Grant(secpb.GrantRequest(principal="user:reader", stream_prefix="shared-",
                                 permissions=[secpb.PERMISSION_READ, secpb.PERMISSION_SUBSCRIBE]),
              metadata=admin, timeout=TIMEOUT)
    reader = [("authorization", basic("reader", READER_PASSWORD))]
    token = sec.CreateToken(secpb.CreateTokenRequest(description="ui test"), metadata=reader, timeout=TIMEOUT).token
    streams = spb_grpc.StreamsStub(channel)
    append = lambda s, evs: streams.Append(  # noqa: E731
        spb.AppendRequest(stream=s, any=spb.Empty(), events=evs), metadata=admin, timeout=TIMEOUT)
    append("shared-1", [event("Shared", {"n": 1})])
    append("secret-1", [event("Secret", {"n": 1})])
    return channel, append, token


def login_page(driver):
    return wait(driver, "the login page", lambda d: d.find_elements(By.ID, "login-user"))[0]


def sign_in(driver, user=None, password=None, token=None):
    login_page(driver)
    if token is not None:
        driver.find_element(By.ID, "method-token").click()
        driver.find_element(By.ID, "login-token").send_keys(token, Keys.ENTER)
    else:
        driver.find_element(By.ID, "login-user").send_keys(user)
        driver.find_element(By.ID, "login-password").send_keys(password, Keys.ENTER)


def signed_in_as(driver, name):
    wait(driver, f"signed in as {name}", lambda d: d.find_elements(By.CSS_SELECTOR, "[data-field=user]")
         and field(d, "user").get_attribute("textContent") == f"Signed in as {name}"
         and not d.find_elements(By.ID, "login-user"))


def sign_out(driver):
    field(driver, "sign-out").click()
    login_page(driver)
    check(driver.execute_script("return sessionStorage.length") == 0, "signing out forgets the credentials")


def nav_items(driver):
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "nav a[data-nav]") if a.is_displayed()]


def test_login_required(driver, base):
    go(driver, base, "/streams")
    login_page(driver)
    check(not nav_items(driver), "no navigation before signing in")
    check(driver.switch_to.active_element.get_attribute("id") == "login-user", "the user name has focus")
    # What the page's scripts get without credentials: 401 with a challenge
    # no browser answers with its own dialog.
    challenge = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/v1/dashboard', {credentials: 'omit'})
          .then((r) => done([r.status, r.headers.get('www-authenticate')]))
          .catch((e) => done(String(e)));""")
    check(challenge == [401, 'Bearer realm="strata"'], f"a script's 401: {challenge}")
    shot(driver, "login")
    check_page(driver, "login")
    sign_in(driver, "admin", "not-the-password")
    err = wait(driver, "the refusal", lambda d: "authentication failed" in field(d, "login-error").text
               and field(d, "login-error"))
    check("Not signed in" in err.text, f"the message says what happened: {err.text}")
    check(not nav_items(driver), "still signed out")
    check_page(driver, "login with an error")
    check(driver.switch_to.active_element.get_attribute("id") == "login-password"
          and field(driver, "login-error").text and not driver.find_element(By.ID, "login-password").get_attribute("value"),
          "the password is emptied and has focus, to type it again")
    driver.find_element(By.ID, "login-user").clear()
    sign_in(driver, "admin", ADMIN_PASSWORD)
    signed_in_as(driver, "admin")
    wait(driver, "the page asked for", lambda d: d.find_elements(By.CSS_SELECTOR, "[data-field=streams] a"))


def test_admin_sees_everything(driver, base, append):
    check(nav_items(driver) == ["Dashboard", "Streams", "Live tail", "Groups", "Scavenge"],
          f"the admin's navigation: {nav_items(driver)}")
    check(driver.execute_script("return [sessionStorage.length, localStorage.length]") == [1, 0],
          "credentials in sessionStorage only")
    streams = field(driver, "streams").text
    check("shared-1" in streams and "secret-1" in streams, f"the admin sees every stream: {streams}")
    go(driver, base, "/stream/secret-1")
    wait(driver, "the delete button", lambda d: d.find_elements(By.XPATH, "//button[normalize-space()='Delete…']"))
    # Still signed in after a reload (same tab).
    driver.refresh()
    signed_in_as(driver, "admin")
    go(driver, base, "/scavenge")
    wait(driver, "the start button", lambda d: field(d, "start").is_displayed())
    go(driver, base, "/tail")
    wait(driver, "the tail to be live", lambda d: field(d, "tail-state").text == "live")
    res = append("secret-2", [event("SecretTail", {"n": 2})])
    wait(driver, "the admin's tail over fetch with credentials",
         lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-position="{res.last_position}"]'))
    sign_out(driver)
    check("Signed out" in field(driver, "login-error").text, "the login page says so")


def test_reader_sees_only_what_it_may(driver, base, append, token):
    sign_in(driver, "reader", READER_PASSWORD)
    signed_in_as(driver, "reader")
    # Keyboard users land on the page they signed in to, then Tab onwards.
    wait(driver, "focus on the page's heading", lambda d: d.switch_to.active_element.tag_name == "h1")
    check(nav_items(driver) == ["Dashboard", "Streams", "Live tail"], f"the reader's navigation: {nav_items(driver)}")
    go(driver, base, "/")
    wait(driver, "the dashboard's numbers", lambda d: re.fullmatch(r"[\d,]+", field(d, "head").text))
    check(not driver.find_elements(By.CSS_SELECTOR, "section[aria-label='Scavenge']"), "no scavenge on the dashboard")
    check(not driver.find_elements(By.CSS_SELECTOR, "section[aria-label='Consumer groups']")
          and not driver.find_elements(By.CSS_SELECTOR, "[data-field=group-count]"), "no groups on the dashboard")
    check("null" not in driver.find_element(By.ID, "main").text, "sections left out leave nothing behind")
    go(driver, base, "/streams")
    wait(driver, "the reader's streams", lambda d: "shared-1" in field(d, "streams").text)
    check("secret-" not in field(driver, "streams").text, "streams it may not read are not listed")
    check("null" not in driver.find_element(By.ID, "main").text, "sections left out leave nothing behind")
    shot(driver, "streams-reader")
    check_page(driver, "streams as a reader")
    go(driver, base, "/stream/shared-1")
    wait(driver, "the stream's events", lambda d: d.find_elements(By.CSS_SELECTOR, "details.event"))
    check(not driver.find_elements(By.XPATH, "//button[normalize-space()='Delete…']"), "no delete without the permission")
    check(not driver.find_elements(By.CSS_SELECTOR, "section.danger"), "no delete section")
    go(driver, base, "/scavenge")
    wait(driver, "the page refused", lambda d: d.find_elements(By.CSS_SELECTOR, "[data-field=not-allowed]"))
    check(not driver.find_elements(By.CSS_SELECTOR, "[data-field=start]"), "no scavenge button")
    go(driver, base, "/groups")
    wait(driver, "the page refused", lambda d: d.find_elements(By.CSS_SELECTOR, "[data-field=not-allowed]"))
    go(driver, base, "/tail")
    wait(driver, "the reader's tail", lambda d: field(d, "tail-state").text == "live")
    append("secret-3", [event("NotForReader", {"n": 3})])
    res = append("shared-2", [event("ForReader", {"n": 2})])
    wait(driver, "the reader's event in the tail",
         lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-position="{res.last_position}"]'))
    check("NotForReader" not in field(driver, "tail-rows").text, "the tail shows only granted streams")
    sign_out(driver)
    sign_in(driver, token=token)
    signed_in_as(driver, "reader")
    sign_out(driver)


def browser_errors(driver):
    bad = []
    for entry in driver.get_log("browser"):
        # 404s of resources the pages expect to be missing (no scavenge
        # yet, an empty parked stream) are logged by Chrome as errors.
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]:
            bad.append(entry["message"])
    return bad


def run_auth_checks(driver):
    data = tempfile.mkdtemp(prefix="strata-ui-auth-")
    proc, addr, log = start_server(data)
    channel = None
    try:
        channel, append, token = seed_auth(addr)
        base = f"http://{addr}"
        for name, run in [
            ("auth: login required", lambda: test_login_required(driver, base)),
            ("auth: an admin sees everything", lambda: test_admin_sees_everything(driver, base, append)),
            ("auth: a reader sees only what it may", lambda: test_reader_sees_only_what_it_may(driver, base, append, token)),
        ]:
            t = time.monotonic()
            run()
            errors = browser_errors(driver)
            check(not errors, f"{name}: the browser logged errors: {errors}")
            print(f"ok: {name} ({time.monotonic() - t:.1f} s)")
    except Failed:
        log.seek(0)
        print(log.read()[-4000:], file=sys.stderr)
        raise
    finally:
        if channel is not None:
            channel.close()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


def main():
    update_docs = "--update-docs" in sys.argv
    t_start = time.monotonic()
    data = tempfile.mkdtemp(prefix="strata-ui-")
    proc, addr, log = start_server(data)
    base = f"http://{addr}"
    driver = None
    parker = None
    traffic = None
    try:
        channel = grpc.insecure_channel(addr)
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        _streams, parker, append = seed(channel)
        traffic = Traffic(append)
        traffic.start()
        if update_docs:
            # Most of a minute of history, for the chart in the docs.
            time.sleep(45)
        driver = browser()
        viewport(driver, 1280, 800)
        for name, run in [
            ("dashboard", lambda: test_dashboard(driver, base, append)),
            ("streams and events by keyboard", lambda: test_streams_by_keyboard(driver, base)),
            ("delete with confirmation", lambda: test_delete_with_confirmation(driver, base)),
            ("live tail", lambda: test_tail(driver, base, append)),
            ("consumer groups", lambda: test_groups(driver, base, parker)),
            ("scavenge", lambda: test_scavenge(driver, base)),
        ]:
            t = time.monotonic()
            run()
            errors = browser_errors(driver)
            check(not errors, f"{name}: the browser logged errors: {errors}")
            print(f"ok: {name} ({time.monotonic() - t:.1f} s)")
        run_auth_checks(driver)
        if update_docs:
            dest = os.path.join(ROOT, "docs", "ui")
            os.makedirs(dest, exist_ok=True)
            for f in sorted(os.listdir(SHOTS)):
                shutil.copy(os.path.join(SHOTS, f), os.path.join(dest, f))
            print(f"screenshots copied to {dest}")
        print(f"ui: all browser checks passed in {time.monotonic() - t_start:.1f} s; "
              f"screenshots in {SHOTS}")
    except Failed as e:
        if driver is not None:
            shot(driver, "failure")
        log.seek(0)
        print(log.read()[-4000:], file=sys.stderr)
        print(f"FAILED: {e} (screenshot: {SHOTS}/failure.png)", file=sys.stderr)
        sys.exit(1)
    finally:
        if traffic is not None:
            traffic.stop()
        if parker is not None:
            parker.stop()
        if driver is not None:
            driver.quit()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(STUBS, ignore_errors=True)


if __name__ == "__main__":
    main()

// The official KurrentDB Node.js client (@kurrent/kurrentdb-client from npm)
// against Strata.
//
// Strata speaks the KurrentDB client protocol on its ordinary port, so the
// client needs nothing but a connection string:
//
//     kurrentdb://HOST:PORT?tls=false
//
// This walk-through is what a user of the client would write: appends with
// every expected state, reads of a stream and of $all both ways, catch-up
// subscriptions (with server-side filters), stream metadata, deletes and
// tombstones, persistent subscriptions with ack / nack / park / replay, and
// the errors the client throws when things go wrong. Every step checks what
// it got and the script stops, exit status 1, at the first surprise.
//
//     npm ci && STRATA_ADDR=127.0.0.1:2113 node walkthrough.mjs
//
// Names carry a random run id, so the script can run again and again
// against the same server. (The client reads streams and $all through its
// bundled Rust core, @kurrent/bridge, and does everything else over
// @grpc/grpc-js: both paths meet Strata here.)

import { randomUUID } from "node:crypto";
import kurrent from "@kurrent/kurrentdb-client";

const {
  KurrentDBClient,
  jsonEvent,
  ANY,
  NO_STREAM,
  STREAM_EXISTS,
  START,
  END,
  FORWARDS,
  BACKWARDS,
  PARK,
  RETRY,
  eventTypeFilter,
  streamNameFilter,
  persistentSubscriptionToStreamSettingsFromDefaults,
  persistentSubscriptionToAllSettingsFromDefaults,
  WrongExpectedVersionError,
  StreamNotFoundError,
  StreamDeletedError,
  PersistentSubscriptionExistsError,
  PersistentSubscriptionDoesNotExistError,
} = kurrent;

const ADDR = process.env.STRATA_ADDR ?? "127.0.0.1:2113";
const RUN = randomUUID().slice(0, 8);
const TIMEOUT_MS = 20_000; // no call of this walk-through should wait longer

class Mismatch extends Error {}

let stepsPassed = 0;

const check = (condition, what) => {
  if (!condition) throw new Mismatch(what);
};

const show = (v) =>
  JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));

const equal = (got, expected, what) => {
  if (show(got) !== show(expected)) {
    throw new Mismatch(`${what}: expected ${show(expected)}, got ${show(got)}`);
  }
};

/** Runs one step; on failure says which and exits 1. */
async function step(name, body) {
  try {
    await body();
  } catch (e) {
    if (e instanceof Mismatch) {
      console.error(`FAILED [node] ${name}: ${e.message}`);
    } else {
      console.error(e);
      console.error(`FAILED [node] ${name}: unexpected ${e?.constructor?.name}: ${e?.message}`);
    }
    process.exit(1);
  }
  stepsPassed += 1;
  console.log(`ok [node] ${name}`);
}

/** Awaits `promise`, failing with `what` after TIMEOUT_MS. */
function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Mismatch(`${what}: nothing within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Awaits `call()` and returns the error of class `type` it threw. */
async function rejects(type, call, what) {
  let result;
  try {
    result = await within(call(), what);
  } catch (e) {
    if (e instanceof type) return e;
    throw new Mismatch(`${what}: expected ${type.name}, got ${e?.constructor?.name}: ${e?.message}`);
  }
  throw new Mismatch(`${what}: expected ${type.name}, but it returned ${show(result)}`);
}

const event = (type, data = {}) => jsonEvent({ type, data });
const ids = (events) => events.map((e) => e.id);
const read = async (iterable) => {
  const out = [];
  for await (const resolved of iterable) out.push(resolved.event);
  return out;
};

/** The next `n` events from a subscription's iterator. */
async function take(iterator, n, what) {
  const got = [];
  while (got.length < n) {
    const next = await within(iterator.next(), `${what}: waiting for event ${got.length + 1} of ${n}`);
    if (next.done) throw new Mismatch(`${what}: the subscription ended after ${got.length} of ${n} events`);
    if (next.value?.event) got.push(next.value);
  }
  return got;
}

// --- connecting -------------------------------------------------------------

let client;
await step("connect with kurrentdb://…?tls=false", async () => {
  client = KurrentDBClient.connectionString(`kurrentdb://${ADDR}?tls=false`);
  // The first call connects (and asks the server which features it has).
  equal(await read(client.readStream(`nothing-${RUN}`)).catch((e) => e.constructor.name), "StreamNotFoundError",
    "reading a stream that never existed");
});

await step("the older esdb:// scheme connects too", async () => {
  const old = KurrentDBClient.connectionString(`esdb://${ADDR}?tls=false`);
  const r = await old.appendToStream(`old-scheme-${RUN}`, event("Hello"), { streamState: NO_STREAM });
  equal(r.nextExpectedRevision, 0n, "next expected revision");
  await old.dispose();
});

// --- appending with each expected state ---------------------------------------

const order = `order-${RUN}`;
const placed = event("OrderPlaced", { order, total: 42 });
const line1 = event("LineAdded", { sku: "apple", qty: 3 });
const line2 = event("LineAdded", { sku: "pear", qty: 1 });
const paid = event("OrderPaid", { amount: 42 });
const shipped = event("OrderShipped", { carrier: "post" });
let posPlaced, posLines;

await step("append to a new stream expecting no stream", async () => {
  const r = await client.appendToStream(order, placed, { streamState: NO_STREAM });
  equal(r.success, true, "success");
  equal(r.nextExpectedRevision, 0n, "next expected revision");
  posPlaced = r.position;
  check(typeof posPlaced?.commit === "bigint", `a commit position: ${show(posPlaced)}`);
});

await step("append two events expecting revision 0", async () => {
  const r = await client.appendToStream(order, [line1, line2], { streamState: 0n });
  equal(r.nextExpectedRevision, 2n, "next expected revision");
  posLines = r.position;
  check(posLines.commit > posPlaced.commit, `commit positions grow: ${show([posPlaced, posLines])}`);
});

await step("retrying the same append is idempotent", async () => {
  const r = await client.appendToStream(order, [line1, line2], { streamState: 0n });
  equal(r.position, posLines, "position of the retried append");
  equal((await read(client.readStream(order))).length, 3, "events in the stream after the retry");
});

await step("append expecting the stream exists", async () => {
  const r = await client.appendToStream(order, paid, { streamState: STREAM_EXISTS });
  equal(r.nextExpectedRevision, 3n, "next expected revision");
});

await step("append expecting any state", async () => {
  const r = await client.appendToStream(order, shipped, { streamState: ANY });
  equal(r.nextExpectedRevision, 4n, "next expected revision");
});

// --- wrong expected versions ---------------------------------------------------

await step("wrong exact revision throws WrongExpectedVersionError", async () => {
  const e = await rejects(WrongExpectedVersionError,
    () => client.appendToStream(order, event("Late"), { streamState: 1n }), "append expecting revision 1 at 4");
  equal([e.streamName, e.expectedState, e.actualState], [order, 1n, 4n], "stream, expected and actual state");
});

await step("no stream expected, but it exists: WrongExpectedVersionError", async () => {
  await rejects(WrongExpectedVersionError,
    () => client.appendToStream(order, event("Dup"), { streamState: NO_STREAM }), "append expecting no stream");
});

await step("stream expected to exist, but it does not: WrongExpectedVersionError", async () => {
  const e = await rejects(WrongExpectedVersionError,
    () => client.appendToStream(`ghost-${RUN}`, event("Boo"), { streamState: STREAM_EXISTS }),
    "append expecting the stream exists");
  equal(e.actualState, NO_STREAM, "actual state");
});

// --- reading a stream ------------------------------------------------------------

const written = [placed, line1, line2, paid, shipped];

await step("read the stream forwards", async () => {
  const events = await read(client.readStream(order, { direction: FORWARDS, fromRevision: START }));
  equal(ids(events), ids(written), "event ids in order");
  equal(events.map((e) => e.revision), [0n, 1n, 2n, 3n, 4n], "revisions");
  equal([events[0].type, events[0].streamId, events[0].isJson], ["OrderPlaced", order, true], "type, stream, json");
  equal(events[0].data, { order, total: 42 }, "data");
  check(events[0].created instanceof Date, "created is a Date");
});

await step("read the stream backwards", async () => {
  const events = await read(client.readStream(order, { direction: BACKWARDS, fromRevision: END }));
  equal(ids(events), ids([...written].reverse()), "event ids, newest first");
});

await step("read from a revision, with a limit", async () => {
  equal(ids(await read(client.readStream(order, { fromRevision: 1n, maxCount: 2 }))), ids([line1, line2]),
    "revisions 1..2");
  equal(ids(await read(client.readStream(order, { fromRevision: 3n, direction: BACKWARDS, maxCount: 2 }))),
    ids([paid, line2]), "backwards from 3");
});

await step("reading a stream that never existed throws StreamNotFoundError", async () => {
  await rejects(StreamNotFoundError, () => read(client.readStream(`never-${RUN}`)), "reading a new stream");
});

// --- reading $all ------------------------------------------------------------------

await step("read $all forwards from a position", async () => {
  const events = await read(client.readAll({ fromPosition: posPlaced, maxCount: 5 }));
  equal(ids(events), ids(written), "the order's events, from its first position");
});

await step("read $all backwards", async () => {
  const [newest] = await read(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
  equal(newest.id, shipped.id, "the newest event");
});

await step("read $all filtered by event type prefix (server side)", async () => {
  const events = await read(client.readAll({ fromPosition: posPlaced, filter: eventTypeFilter({ prefixes: ["LineAdd"] }) }));
  equal(ids(events), ids([line1, line2]), "only LineAdded events");
});

await step("read $all filtered by stream name regex", async () => {
  const events = await read(client.readAll({ fromPosition: posPlaced, filter: streamNameFilter({ regex: `^order-${RUN}$` }) }));
  equal(ids(events), ids(written), "the order stream's events");
});

// --- catch-up subscriptions ------------------------------------------------------------

await step("subscribe to a stream: catch up, then receive live events", async () => {
  const sub = client.subscribeToStream(order, { fromRevision: START });
  const it = sub[Symbol.asyncIterator]();
  equal(ids((await take(it, 5, "catch-up")).map((r) => r.event)), ids(written), "caught-up events");
  const delivered = event("OrderDelivered");
  await client.appendToStream(order, delivered, { streamState: 4n });
  equal(ids((await take(it, 1, "live")).map((r) => r.event)), [delivered.id], "the live event");
  await sub.unsubscribe();
  written.push(delivered);
});

await step("subscribe to a stream after a revision", async () => {
  const sub = client.subscribeToStream(order, { fromRevision: 3n });
  const got = await take(sub[Symbol.asyncIterator](), 2, "after revision 3");
  equal(ids(got.map((r) => r.event)), ids(written.slice(4, 6)), "events after revision 3");
  await sub.unsubscribe();
});

const mark = (await client.appendToStream(`marker-${RUN}`, event("Marker"), { streamState: ANY })).position;
const invoice = `invoice-${RUN}`;
const customer = `customer-${RUN}`;
const issued = event("InvoiceIssued", { number: 1 });
const registered = event("CustomerRegistered", { name: "Ada" });
const paidInvoice = event("InvoicePaid", { number: 1 });
for (const [stream, e] of [[invoice, issued], [customer, registered], [invoice, paidInvoice]]) {
  await client.appendToStream(stream, e, { streamState: ANY });
}

await step("subscribe to $all filtered by event type prefix", async () => {
  const sub = client.subscribeToAll({ fromPosition: mark, filter: eventTypeFilter({ prefixes: ["Invoice"] }) });
  const got = await take(sub[Symbol.asyncIterator](), 2, "Invoice* events");
  equal(ids(got.map((r) => r.event)), ids([issued, paidInvoice]), "Invoice* events after the marker");
  await sub.unsubscribe();
});

await step("subscribe to $all filtered by stream name prefix", async () => {
  const sub = client.subscribeToAll({ fromPosition: mark, filter: streamNameFilter({ prefixes: ["customer-"] }) });
  const it = sub[Symbol.asyncIterator]();
  equal(ids((await take(it, 1, "customer-* streams")).map((r) => r.event)), [registered.id], "customer events");
  // Live: a later event of a matching stream arrives; others are filtered out.
  await client.appendToStream(invoice, event("InvoiceVoided"), { streamState: ANY });
  const moved = event("CustomerMoved", { city: "Lyon" });
  await client.appendToStream(customer, moved, { streamState: ANY });
  equal(ids((await take(it, 1, "live customer-* event")).map((r) => r.event)), [moved.id], "the live event");
  await sub.unsubscribe();
});

await step("subscribe to $all filtered by stream name regex", async () => {
  const sub = client.subscribeToAll({ fromPosition: mark, filter: streamNameFilter({ regex: `^(invoice|customer)-${RUN}$` }) });
  const got = await take(sub[Symbol.asyncIterator](), 3, "regex streams");
  equal(ids(got.map((r) => r.event)), ids([issued, registered, paidInvoice]), "events of both streams, in order");
  await sub.unsubscribe();
});

// --- stream metadata -------------------------------------------------------------------

await step("stream metadata: none yet", async () => {
  const r = await client.getStreamMetadata(order);
  equal(r.metadata, undefined, "metadata of a stream without any");
});

// setStreamMetadata() appends a $metadata event to the $$stream through
// appendToStream(), handing its options over as they are: this client version
// reads the expected state from `streamState` (its typings say
// `expectedRevision`, which appendToStream ignores), so `streamState` it is.
await step("set and get stream metadata", async () => {
  await client.setStreamMetadata(order, { maxCount: 3, owner: "billing" }, { streamState: NO_STREAM });
  // (This client version fills metastreamRevision with the metadata event's
  // commit position, not its revision, so the walk-through does not check it.)
  const r = await client.getStreamMetadata(order);
  equal([r.metadata?.maxCount, r.metadata?.owner], [3, "billing"], "metadata");
});

await step("maxCount keeps only the newest events", async () => {
  equal(ids(await read(client.readStream(order))), ids(written.slice(-3)), "the 3 newest events");
});

await step("update metadata with the right revision; a stale one throws", async () => {
  await client.setStreamMetadata(order, { owner: "shipping" }, { streamState: 0n });
  const r = await client.getStreamMetadata(order);
  equal([r.metadata?.maxCount, r.metadata?.owner], [undefined, "shipping"], "metadata");
  equal((await read(client.readStream(order))).length, written.length, "all events visible again");
  await rejects(WrongExpectedVersionError, () => client.setStreamMetadata(order, {}, { streamState: 0n }),
    "setting metadata with a stale revision");
});

// --- delete and tombstone ------------------------------------------------------------------

const cart = `cart-${RUN}`;
await client.appendToStream(cart, [event("ItemAdded"), event("ItemAdded")], { streamState: NO_STREAM });

await step("delete with a wrong revision throws WrongExpectedVersionError", async () => {
  await rejects(WrongExpectedVersionError, () => client.deleteStream(cart, { expectedRevision: 0n }),
    "delete expecting 0 at 1");
});

await step("delete (soft): the stream reads as not found", async () => {
  const r = await client.deleteStream(cart, { expectedRevision: 1n });
  check(typeof r.position?.commit === "bigint", `delete position: ${show(r)}`);
  await rejects(StreamNotFoundError, () => read(client.readStream(cart)), "reading a deleted stream");
});

await step("append after a delete recreates the stream, revisions continuing", async () => {
  const again = event("ItemAdded");
  const r = await client.appendToStream(cart, again, { streamState: NO_STREAM });
  equal(r.nextExpectedRevision, 2n, "next expected revision");
  const events = await read(client.readStream(cart));
  equal([ids(events), events[0].revision], [[again.id], 2n], "only the new event, at revision 2");
});

const account = `account-${RUN}`;
await client.appendToStream(account, event("AccountOpened"), { streamState: NO_STREAM });

await step("tombstone: reading throws StreamDeletedError", async () => {
  await client.tombstoneStream(account, { expectedRevision: 0n });
  await rejects(StreamDeletedError, () => read(client.readStream(account)), "reading a tombstoned stream");
});

await step("appending to or deleting a tombstoned stream throws StreamDeletedError", async () => {
  await rejects(StreamDeletedError, () => client.appendToStream(account, event("AccountReopened")),
    "append to a tombstoned stream");
  await rejects(StreamDeletedError, () => client.tombstoneStream(account), "tombstone again");
  await rejects(StreamDeletedError, () => client.deleteStream(account), "delete a tombstoned stream");
});

// --- persistent subscriptions -------------------------------------------------------------

async function waitFor(condition, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Mismatch(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Acks `ackMe`, nacks `retryMe` once with RETRY (then acks the redelivery),
 * nacks `parkMe` with PARK. Returns the redelivery's retry count. */
async function consumeAckRetryPark(sub, it, ackMe, retryMe, parkMe) {
  let acked = false, retried = false, parked = false, redelivered;
  while (!(acked && parked && redelivered !== undefined)) {
    const [resolved] = await take(it, 1, "persistent subscription");
    const id = resolved.event.id;
    if (id === ackMe.id) {
      await sub.ack(resolved);
      acked = true;
    } else if (id === retryMe.id && !retried) {
      equal(resolved.retryCount, 0, "retry count of a first delivery");
      await sub.nack(RETRY, "try again", resolved);
      retried = true;
    } else if (id === retryMe.id) {
      redelivered = resolved.retryCount;
      await sub.ack(resolved);
    } else if (id === parkMe.id) {
      await sub.nack(PARK, "cannot handle it", resolved);
      parked = true;
    } else {
      throw new Mismatch(`unexpected event ${resolved.event.type} ${id} in ${resolved.event.streamId}`);
    }
  }
  return redelivered;
}

const work = `work-${RUN}`;
const [job1, job2, job3] = [1, 2, 3].map((n) => event("JobQueued", { n }));
await client.appendToStream(work, [job1, job2, job3], { streamState: NO_STREAM });
const group = `workers-${RUN}`;
let psub, pit;

await step("create a persistent subscription to a stream", async () => {
  await client.createPersistentSubscriptionToStream(work, group,
    persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }));
});

await step("creating it again throws PersistentSubscriptionExistsError", async () => {
  await rejects(PersistentSubscriptionExistsError,
    () => client.createPersistentSubscriptionToStream(work, group, persistentSubscriptionToStreamSettingsFromDefaults()),
    "second create of the same group");
});

await step("read it: ack, nack with retry (redelivered), nack with park", async () => {
  psub = client.subscribeToPersistentSubscriptionToStream(work, group);
  pit = psub[Symbol.asyncIterator]();
  equal(await consumeAckRetryPark(psub, pit, job1, job2, job3), 1, "retry count of the redelivered event");
});

await step("subscription info shows the group and the parked event", async () => {
  const info = await client.getPersistentSubscriptionToStreamInfo(work, group);
  equal([info.groupName, info.eventSource], [group, work], "group and source");
  await waitFor(async () => (await client.getPersistentSubscriptionToStreamInfo(work, group)).stats.parkedMessageCount === 1n,
    "parked message count 1");
});

await step("list persistent subscriptions (to the stream, and all)", async () => {
  equal((await client.listPersistentSubscriptionsToStream(work)).map((i) => i.groupName), [group], "groups of the stream");
  check((await client.listAllPersistentSubscriptions()).some((i) => i.groupName === group), "the group is listed");
});

await step("replay parked messages: the parked event comes back", async () => {
  await client.replayParkedMessagesToStream(work, group);
  const [resolved] = await take(pit, 1, "replayed event");
  equal(resolved.event.id, job3.id, "replayed event id");
  await psub.ack(resolved); // acks the parked link's id when the event comes back as a link
  await waitFor(async () => (await client.getPersistentSubscriptionToStreamInfo(work, group)).stats.parkedMessageCount === 0n,
    "parked message count 0 after replay");
});

await step("a live event reaches the consumer", async () => {
  const job4 = event("JobQueued", { n: 4 });
  await client.appendToStream(work, job4, { streamState: 2n });
  const [resolved] = await take(pit, 1, "live event");
  equal(resolved.event.id, job4.id, "live event id");
  await psub.ack(resolved);
  await psub.unsubscribe();
});

await step("delete the persistent subscription; then it does not exist", async () => {
  await client.deletePersistentSubscriptionToStream(work, group);
  await rejects(PersistentSubscriptionDoesNotExistError, () => client.getPersistentSubscriptionToStreamInfo(work, group),
    "info of a deleted group");
});

const audit = `audit-${RUN}`;
const [rec1, rec2, rec3] = [1, 2, 3].map((n) => event("Audited", { n }));
const [beforeAudit] = await read(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
for (const r of [rec1, rec2, rec3]) await client.appendToStream(audit, r, { streamState: ANY });
await client.appendToStream(`noise-${RUN}`, event("Noise"), { streamState: ANY });
const allGroup = `auditors-${RUN}`;
let asub, ait;

await step("create a persistent subscription to $all, filtered by stream name prefix", async () => {
  await client.createPersistentSubscriptionToAll(allGroup,
    persistentSubscriptionToAllSettingsFromDefaults({ startFrom: beforeAudit.position }),
    { filter: streamNameFilter({ prefixes: [audit] }) });
});

await step("read it ($all): ack, nack retry, nack park", async () => {
  asub = client.subscribeToPersistentSubscriptionToAll(allGroup);
  ait = asub[Symbol.asyncIterator]();
  equal(await consumeAckRetryPark(asub, ait, rec1, rec2, rec3), 1, "retry count of the redelivered event");
});

await step("info and list for the $all subscription", async () => {
  const info = await client.getPersistentSubscriptionToAllInfo(allGroup);
  equal([info.groupName, info.eventSource], [allGroup, "$all"], "group and source");
  check((await client.listPersistentSubscriptionsToAll()).some((i) => i.groupName === allGroup), "the group is listed");
  await waitFor(async () => (await client.getPersistentSubscriptionToAllInfo(allGroup)).stats.parkedMessageCount === 1n,
    "parked message count 1");
});

await step("replay the $all subscription's parked event", async () => {
  await client.replayParkedMessagesToAll(allGroup);
  const [resolved] = await take(ait, 1, "replayed event");
  equal(resolved.event.id, rec3.id, "replayed event id");
  await asub.ack(resolved);
  await asub.unsubscribe();
});

await step("delete the $all persistent subscription", async () => {
  await client.deletePersistentSubscriptionToAll(allGroup);
  await rejects(PersistentSubscriptionDoesNotExistError, () => client.getPersistentSubscriptionToAllInfo(allGroup),
    "info of a deleted group");
});

await client.dispose();
console.log(`node walk-through: all ${stepsPassed} steps passed against ${ADDR}`);
process.exit(0);

"""The official KurrentDB Python client (`kurrentdbclient` from PyPI) against Strata.

Strata speaks the KurrentDB client protocol on its ordinary port, so the
client needs nothing but a connection string:

    kurrentdb://HOST:PORT?tls=false

This walk-through is what a user of the client would write: appends with
every expected state, reads of a stream and of `$all` both ways, catch-up
subscriptions (with server-side filters), stream metadata, deletes and
tombstones, persistent subscriptions with ack / nack / park / replay, and
the exceptions the client raises when things go wrong. Every step checks
what it got and the script stops, exit status 1, at the first surprise.

    STRATA_ADDR=127.0.0.1:2113 python walkthrough.py

Names carry a random run id, so the script can run again and again
against the same server.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import uuid
from contextlib import contextmanager

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import (
    AlreadyExistsError,
    FailedPreconditionError,
    GrpcError,
    NotFoundError,
    StreamIsDeletedError,
    WrongCurrentVersionError,
)

ADDR = os.environ.get("STRATA_ADDR", "127.0.0.1:2113")
RUN = uuid.uuid4().hex[:8]
TIMEOUT = 20.0  # seconds: no call of this walk-through should wait longer

steps_passed = 0
current_step = "connecting"


class Mismatch(Exception):
    """What the walk-through expected and what the server gave differ."""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Mismatch(what)


def equal(got, expected, what: str) -> None:
    if got != expected:
        raise Mismatch(f"{what}: expected {expected!r}, got {got!r}")


@contextmanager
def step(name: str):
    """Runs one step of the walk-through; on failure says which and exits 1."""
    global steps_passed, current_step
    current_step = name
    try:
        yield
    except Mismatch as e:
        print(f"FAILED [python] {name}: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # an exception the step did not expect
        traceback.print_exc()
        print(f"FAILED [python] {name}: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    steps_passed += 1
    print(f"ok [python] {name}")


def raises(exc_type, call, what: str):
    """Calls `call()` and returns the exception of type `exc_type` it raised."""
    try:
        result = call()
    except exc_type as e:
        return e
    except Exception as e:
        raise Mismatch(f"{what}: expected {exc_type.__name__}, got {type(e).__name__}: {e}") from e
    raise Mismatch(f"{what}: expected {exc_type.__name__}, but it returned {result!r}")


def event(type_: str, **data) -> NewEvent:
    return NewEvent(type=type_, data=json.dumps(data).encode())


def ids(events) -> list:
    return [e.id for e in events]


def take(iterator, n: int, what: str) -> list:
    """The next `n` recorded events from a subscription (checkpoints skipped)."""
    got = []
    for item in iterator:
        if getattr(item, "is_checkpoint", False) or not hasattr(item, "id"):
            continue
        got.append(item)
        if len(got) == n:
            return got
    raise Mismatch(f"{what}: the subscription ended after {len(got)} of {n} events")


# --- connecting -------------------------------------------------------------

with step("connect with kurrentdb://…?tls=false"):
    client = KurrentDBClient(uri=f"kurrentdb://{ADDR}?tls=false")

with step("gossip: a single node that is the leader"):
    members = client.read_gossip()
    equal(len(members), 1, "cluster members")
    equal(members[0].state, "NODE_STATE_LEADER", "node state")

with step("the older esdb:// scheme connects too"):
    old = KurrentDBClient(uri=f"esdb://{ADDR}?Tls=false")
    equal(old.get_current_version(f"nothing-{RUN}"), StreamState.NO_STREAM, "version of a new stream")
    old.close()

# --- appending with each expected state ---------------------------------------

order = f"order-{RUN}"
placed = event("OrderPlaced", order=order, total=42)
line1 = event("LineAdded", sku="apple", qty=3)
line2 = event("LineAdded", sku="pear", qty=1)
paid = event("OrderPaid", amount=42)
shipped = event("OrderShipped", carrier="post")

with step("append to a new stream expecting no stream"):
    pos_placed = client.append_to_stream(order, current_version=StreamState.NO_STREAM, events=placed)
    check(isinstance(pos_placed, int) and pos_placed >= 0, f"commit position {pos_placed!r}")

with step("append two events expecting revision 0"):
    pos_lines = client.append_to_stream(order, current_version=0, events=[line1, line2])
    check(pos_lines > pos_placed, f"commit positions grow: {pos_placed} then {pos_lines}")

with step("retrying the same append is idempotent"):
    again = client.append_to_stream(order, current_version=0, events=[line1, line2])
    equal(again, pos_lines, "commit position of the retried append")
    equal(len(client.get_stream(order)), 3, "events in the stream after the retry")

with step("append expecting the stream exists"):
    client.append_to_stream(order, current_version=StreamState.EXISTS, events=paid)

with step("append expecting any state"):
    pos_shipped = client.append_to_stream(order, current_version=StreamState.ANY, events=[shipped])
    equal(client.get_current_version(order), 4, "current version")

# --- wrong expected versions ---------------------------------------------------

with step("wrong exact revision raises WrongCurrentVersionError (Append)"):
    e = raises(WrongCurrentVersionError,
               lambda: client.append_to_stream(order, current_version=1, events=event("Late")),
               "append expecting revision 1 at 4")
    equal(e.actual_version, 4, "actual version in the exception")

with step("wrong exact revision raises WrongCurrentVersionError (BatchAppend)"):
    e = raises(WrongCurrentVersionError,
               lambda: client.append_to_stream(order, current_version=2, events=[event("Late"), event("Later")]),
               "batch append expecting revision 2 at 4")
    equal(e.actual_version, 4, "actual version in the exception")

with step("no stream expected, but it exists: WrongCurrentVersionError"):
    raises(WrongCurrentVersionError,
           lambda: client.append_to_stream(order, current_version=StreamState.NO_STREAM, events=event("Dup")),
           "append expecting no stream to an existing stream")

with step("stream expected to exist, but it does not: WrongCurrentVersionError"):
    e = raises(WrongCurrentVersionError,
               lambda: client.append_to_stream(f"ghost-{RUN}", current_version=StreamState.EXISTS, events=[event("Boo")]),
               "append expecting the stream exists to a new stream")
    equal(e.actual_version, StreamState.NO_STREAM, "actual version in the exception")

# --- reading a stream ------------------------------------------------------------

written = [placed, line1, line2, paid, shipped]

with step("read the stream forwards"):
    events = client.get_stream(order)
    equal(ids(events), ids(written), "event ids in order")
    equal([e.stream_position for e in events], [0, 1, 2, 3, 4], "stream positions")
    equal(events[0].type, "OrderPlaced", "type")
    equal(json.loads(events[0].data), {"order": order, "total": 42}, "data")
    equal(events[0].content_type, "application/json", "content type")
    equal(events[0].stream_name, order, "stream name")
    equal(events[0].commit_position, pos_placed, "commit position")
    check(events[0].recorded_at is not None, "recorded_at is set")

with step("read the stream backwards"):
    equal(ids(client.get_stream(order, backwards=True)), ids(reversed(written)), "event ids, newest first")

with step("read from a stream position, with a limit"):
    equal(ids(client.get_stream(order, stream_position=1, limit=2)), ids([line1, line2]), "positions 1..2")
    equal(ids(client.get_stream(order, stream_position=3, backwards=True, limit=2)), ids([paid, line2]),
          "backwards from 3")

with step("reading a stream that never existed raises NotFoundError"):
    raises(NotFoundError, lambda: client.get_stream(f"never-{RUN}"), "get_stream of a new stream")
    equal(client.get_current_version(f"never-{RUN}"), StreamState.NO_STREAM, "current version")

# --- reading $all ------------------------------------------------------------------

with step("read $all forwards from a commit position"):
    got = list(client.read_all(commit_position=pos_placed, limit=5))
    equal(ids(got), ids(written), "the order's events, from its first commit position")

with step("read $all backwards"):
    got = list(client.read_all(backwards=True, limit=1))
    equal(ids(got), [shipped.id], "the newest event")
    check(client.get_commit_position() >= pos_shipped, "get_commit_position reaches the last append")

with step("read $all filtered by event type (regex, server side)"):
    got = list(client.read_all(commit_position=pos_placed, filter_include=["LineAdded"]))
    equal(ids(got), ids([line1, line2]), "only LineAdded events")

with step("read $all filtered by stream name prefix"):
    got = list(client.read_all(commit_position=pos_placed, filter_include=[order],
                               filter_by_stream_name=True, filter_by_prefix=True))
    equal(ids(got), ids(written), "the order stream's events")

# --- catch-up subscriptions ------------------------------------------------------------

with step("subscribe to a stream: catch up, then receive live events"):
    sub = client.subscribe_to_stream(order, timeout=TIMEOUT)
    equal(ids(take(sub, 5, "catch-up")), ids(written), "caught-up events")
    delivered = event("OrderDelivered")
    client.append_to_stream(order, current_version=4, events=delivered)
    equal(ids(take(sub, 1, "live")), [delivered.id], "the live event")
    sub.stop()
    written.append(delivered)

with step("subscribe to a stream after a stream position"):
    with client.subscribe_to_stream(order, stream_position=3, timeout=TIMEOUT) as sub:
        equal(ids(take(sub, 2, "from position 3")), ids(written[4:6]), "events after position 3")

mark = client.append_to_stream(f"marker-{RUN}", current_version=StreamState.ANY, events=event("Marker"))
invoice, customer = f"invoice-{RUN}", f"customer-{RUN}"
issued = event("InvoiceIssued", number=1)
registered = event("CustomerRegistered", name="Ada")
paid_invoice = event("InvoicePaid", number=1)
for stream, e in ((invoice, issued), (customer, registered), (invoice, paid_invoice)):
    client.append_to_stream(stream, current_version=StreamState.ANY, events=e)

with step("subscribe to $all filtered by event type prefix"):
    with client.subscribe_to_all(commit_position=mark, filter_include=["Invoice"],
                                 filter_by_prefix=True, timeout=TIMEOUT) as sub:
        equal(ids(take(sub, 2, "Invoice* events")), ids([issued, paid_invoice]), "Invoice* events after the marker")

with step("subscribe to $all filtered by stream name prefix"):
    with client.subscribe_to_all(commit_position=mark, filter_include=["customer-"], filter_by_stream_name=True,
                                 filter_by_prefix=True, timeout=TIMEOUT) as sub:
        equal(ids(take(sub, 1, "customer-* streams")), [registered.id], "events of customer-* streams")
        # Live: a later event of a matching stream arrives; others are filtered out.
        client.append_to_stream(invoice, current_version=StreamState.ANY, events=event("InvoiceVoided"))
        later = event("CustomerMoved", city="Lyon")
        client.append_to_stream(customer, current_version=StreamState.ANY, events=later)
        equal(ids(take(sub, 1, "live customer-* event")), [later.id], "the live customer event")

with step("subscribe to $all filtered by stream name regex"):
    with client.subscribe_to_all(commit_position=mark, filter_include=[rf"(invoice|customer)-{RUN}"],
                                 filter_by_stream_name=True, timeout=TIMEOUT) as sub:
        got = take(sub, 3, "regex streams")
        equal(ids(got), ids([issued, registered, paid_invoice]), "events of both streams, in order")

# --- stream metadata -------------------------------------------------------------------

with step("stream metadata: none yet"):
    metadata, version = client.get_stream_metadata(order)
    equal((metadata, version), ({}, StreamState.NO_STREAM), "metadata of a stream without any")

with step("set and get stream metadata"):
    client.set_stream_metadata(order, metadata={"$maxCount": 3, "owner": "billing"},
                               current_version=StreamState.NO_STREAM)
    metadata, version = client.get_stream_metadata(order)
    equal(metadata.get("$maxCount"), 3, "$maxCount")
    equal(metadata.get("owner"), "billing", "custom property")
    equal(version, 0, "metadata version")

with step("$maxCount keeps only the newest events"):
    equal(ids(client.get_stream(order)), ids(written[-3:]), "the 3 newest events")

with step("update metadata with the right version; a stale version raises"):
    client.set_stream_metadata(order, metadata={"owner": "shipping"}, current_version=0)
    metadata, version = client.get_stream_metadata(order)
    equal((metadata.get("owner"), version), ("shipping", 1), "metadata and version")
    check("$maxCount" not in metadata, f"$maxCount removed: {metadata!r}")
    equal(len(client.get_stream(order)), len(written), "all events visible again")
    raises(WrongCurrentVersionError,
           lambda: client.set_stream_metadata(order, metadata={}, current_version=0),
           "setting metadata with a stale version")

# --- delete and tombstone ------------------------------------------------------------------

cart = f"cart-{RUN}"
client.append_to_stream(cart, current_version=StreamState.NO_STREAM, events=[event("ItemAdded"), event("ItemAdded")])

with step("delete with a wrong version raises WrongCurrentVersionError"):
    raises(WrongCurrentVersionError, lambda: client.delete_stream(cart, current_version=0), "delete expecting 0 at 1")

with step("deleting a stream that never existed raises NotFoundError"):
    raises(NotFoundError, lambda: client.delete_stream(f"never-{RUN}", current_version=0), "delete of a new stream")

with step("delete (soft): the stream reads as not found"):
    client.delete_stream(cart, current_version=1)
    raises(NotFoundError, lambda: client.get_stream(cart), "reading a deleted stream")
    equal(client.get_current_version(cart), StreamState.NO_STREAM, "current version after delete")

with step("append after a delete recreates the stream, revisions continuing"):
    again_added = event("ItemAdded")
    client.append_to_stream(cart, current_version=StreamState.NO_STREAM, events=again_added)
    events = client.get_stream(cart)
    equal(ids(events), [again_added.id], "only the new event is visible")
    equal(events[0].stream_position, 2, "its stream position")

account = f"account-{RUN}"
client.append_to_stream(account, current_version=StreamState.NO_STREAM, events=event("AccountOpened"))

with step("tombstone: reading raises StreamIsDeletedError"):
    client.tombstone_stream(account, current_version=0)
    raises(StreamIsDeletedError, lambda: client.get_stream(account), "reading a tombstoned stream")
    raises(StreamIsDeletedError, lambda: client.get_current_version(account), "current version of a tombstoned stream")

with step("appending to a tombstoned stream raises StreamIsDeletedError"):
    raises(StreamIsDeletedError,
           lambda: client.append_to_stream(account, current_version=StreamState.ANY, events=[event("AccountReopened")]),
           "append (BatchAppend) to a tombstoned stream")
    # A single NewEvent goes through the unary Append call, whose error this
    # client version does not map: it raises the generic FailedPreconditionError
    # with KurrentDB's message (as it does against KurrentDB itself).
    e = raises(FailedPreconditionError,
               lambda: client.append_to_stream(account, current_version=StreamState.ANY, events=event("AccountReopened")),
               "append (Append) to a tombstoned stream")
    check("is deleted" in str(e), f"the message says the stream is deleted: {e}")

with step("tombstoning again, or deleting, raises StreamIsDeletedError"):
    raises(StreamIsDeletedError, lambda: client.tombstone_stream(account, current_version=StreamState.ANY),
           "tombstone of a tombstoned stream")
    raises(StreamIsDeletedError, lambda: client.delete_stream(account, current_version=StreamState.ANY),
           "delete of a tombstoned stream")

# --- persistent subscriptions -------------------------------------------------------------


def wait_for(condition, what: str, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Mismatch(f"{what}: not within {seconds} s")
        time.sleep(0.2)


def consume_ack_retry_park(sub, ack_me, retry_me, park_me, source=None):
    """Acks `ack_me`, nacks `retry_me` once with 'retry' (then acks the
    redelivery), nacks `park_me` with 'park'; acks other events of streams
    other than `source` (for an unfiltered $all subscription). Returns the
    redelivery's retry count."""
    acked, retried, parked, redelivered = False, False, False, None
    for e in sub:
        if source is not None and e.stream_name != source:
            sub.ack(e)
            continue
        if e.id == ack_me.id:
            sub.ack(e)
            acked = True
        elif e.id == retry_me.id and not retried:
            equal(e.retry_count, 0, "retry count of a first delivery")
            sub.nack(e, "retry")
            retried = True
        elif e.id == retry_me.id:
            redelivered = e.retry_count
            sub.ack(e)
        elif e.id == park_me.id:
            sub.nack(e, "park")
            parked = True
        else:
            raise Mismatch(f"unexpected event {e.type} {e.id} in {e.stream_name}")
        if acked and parked and redelivered is not None:
            return redelivered
    raise Mismatch("the persistent subscription ended early")


work = f"work-{RUN}"
job1, job2, job3 = event("JobQueued", n=1), event("JobQueued", n=2), event("JobQueued", n=3)
client.append_to_stream(work, current_version=StreamState.NO_STREAM, events=[job1, job2, job3])
group = f"workers-{RUN}"

with step("create a persistent subscription to a stream"):
    client.create_subscription_to_stream(group_name=group, stream_name=work)

with step("creating it again raises AlreadyExistsError"):
    raises(AlreadyExistsError, lambda: client.create_subscription_to_stream(group_name=group, stream_name=work),
           "second create of the same group")

with step("read it: ack, nack with retry (redelivered), nack with park"):
    psub = client.read_subscription_to_stream(group_name=group, stream_name=work, timeout=60)
    retry_count = consume_ack_retry_park(psub, ack_me=job1, retry_me=job2, park_me=job3)
    equal(retry_count, 1, "retry count of the redelivered event")

with step("subscription info shows the group and the parked event"):
    info = client.get_subscription_info(group_name=group, stream_name=work)
    equal((info.group_name, info.event_source), (group, work), "group and source")
    wait_for(lambda: client.get_subscription_info(group_name=group, stream_name=work).parked_message_count == 1,
             "parked message count 1")

with step("list subscriptions (to the stream, and all)"):
    equal([i.group_name for i in client.list_subscriptions_to_stream(stream_name=work)], [group],
          "groups of the stream")
    check(group in [i.group_name for i in client.list_subscriptions()], "the group is in list_subscriptions()")

with step("replay parked events: the parked event comes back"):
    client.replay_parked_events(group_name=group, stream_name=work)
    e = next(iter(psub))
    equal(e.id, job3.id, "replayed event id")
    psub.ack(e)  # ack() uses e.ack_id, the parked link's id when replayed
    wait_for(lambda: client.get_subscription_info(group_name=group, stream_name=work).parked_message_count == 0,
             "parked message count 0 after replay")

with step("a live event reaches the consumer"):
    job4 = event("JobQueued", n=4)
    client.append_to_stream(work, current_version=2, events=job4)
    e = next(iter(psub))
    equal(e.id, job4.id, "live event id")
    psub.ack(e)
    psub.stop()

with step("delete the persistent subscription; then it is not found"):
    client.delete_subscription(group_name=group, stream_name=work)
    raises(NotFoundError, lambda: client.get_subscription_info(group_name=group, stream_name=work),
           "info of a deleted group")
    raises(NotFoundError, lambda: client.delete_subscription(group_name=group, stream_name=work),
           "delete of a deleted group")

audit = f"audit-{RUN}"
rec1, rec2, rec3 = event("Audited", n=1), event("Audited", n=2), event("Audited", n=3)
before_audit = client.get_commit_position()
for r in (rec1, rec2, rec3):
    client.append_to_stream(audit, current_version=StreamState.ANY, events=r)
client.append_to_stream(f"noise-{RUN}", current_version=StreamState.ANY, events=event("Noise"))
all_group = f"auditors-{RUN}"

with step("create a persistent subscription to $all with the client's default filter"):
    # create_subscription_to_all() sends every filter as a regular
    # expression, by default one excluding system event types
    # (^(?!(\$.+$|PersistentConfig\d+$|Result$))). Strata keeps it as no
    # filter: its $all groups never deliver system records
    # (docs/KURRENTDB.md, "Persistent subscriptions").
    client.create_subscription_to_all(group_name=all_group, commit_position=before_audit)

with step("read it ($all): ack, nack retry, nack park"):
    asub = client.read_subscription_to_all(group_name=all_group, timeout=60)
    retry_count = consume_ack_retry_park(asub, ack_me=rec1, retry_me=rec2, park_me=rec3, source=audit)
    equal(retry_count, 1, "retry count of the redelivered event")

with step("info and list for the $all subscription"):
    info = client.get_subscription_info(group_name=all_group)
    equal((info.group_name, info.event_source), (all_group, "$all"), "group and source")
    check(all_group in [i.group_name for i in client.list_subscriptions()], "the group is listed")
    wait_for(lambda: client.get_subscription_info(group_name=all_group).parked_message_count == 1,
             "parked message count 1")

with step("replay the $all subscription's parked event"):
    client.replay_parked_events(group_name=all_group)
    e = next(iter(asub))
    equal(e.id, rec3.id, "replayed event id")
    asub.ack(e)
    asub.stop()

with step("delete the $all persistent subscription"):
    client.delete_subscription(group_name=all_group)
    raises(NotFoundError, lambda: client.get_subscription_info(group_name=all_group), "info of a deleted group")

shipment = f"shipment-{RUN}"
placed, packed, sent = event(f"Placed{RUN}"), event(f"Packed{RUN}"), event(f"Sent{RUN}")
before_shipment = client.get_commit_position()
client.append_to_stream(shipment, current_version=StreamState.NO_STREAM, events=[placed, packed, sent])
typed_group = f"shippers-{RUN}"

with step("a $all persistent subscription filtered by event types delivers only those types"):
    # filter_include of event types is sent as ^Placed...|Sent...$: Strata keeps
    # literal names as the group's (exact) event types.
    client.create_subscription_to_all(group_name=typed_group, commit_position=before_shipment,
                                      filter_include=[placed.type, sent.type], filter_by_stream_name=False)
    tsub = client.read_subscription_to_all(group_name=typed_group, timeout=60)
    got = []
    for e in tsub:
        tsub.ack(e)
        got.append((e.type, e.id))
        if len(got) == 2:
            break
    equal(got, [(placed.type, placed.id), (sent.type, sent.id)], "delivered events (Packed filtered out)")
    tsub.stop()
    client.delete_subscription(group_name=typed_group)

with step("an exact stream name filter is refused: Strata's groups keep stream-name prefixes"):
    e = raises(GrpcError,
               lambda: client.create_subscription_to_all(group_name=typed_group, commit_position=before_shipment,
                                                         filter_include=[shipment], filter_by_stream_name=True),
               "create_subscription_to_all filtered by one exact stream name")
    check(f"'{shipment}.*'" in str(e), f"the message says to use a prefix: {e}")

client.close()
print(f"python walk-through: all {steps_passed} steps passed against {ADDR}")

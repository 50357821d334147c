"""Strata persistent subscriptions (consumer groups) from Python, over gRPC.

Run it with run_example.sh (which installs grpcio and generates the stubs
for strata/v1/streams.proto and strata/v1/persistent.proto). It talks to
the server at STRATA_ADDR (default 127.0.0.1:2113) and shows:

- creating a round-robin group over "$all", filtered to this run's streams
  (and that creating it again fails with ALREADY_EXISTS / group-exists);
- two competing consumers, each a bidirectional Read call in its own
  thread: options first, then a confirmation, then event batches, each
  batch acked with one message; every event is acked exactly once overall
  and both consumers get some;
- a second group whose consumer nacks one event with PARK: the event shows
  up in "$parked-<group>" with the reason in its metadata;
- GetInfo counters, and deleting the groups.

Every result is checked; any mismatch exits non-zero. Names carry a random
run id, so the example can run repeatedly against the same server.
"""

import json
import os
import queue
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

import grpc  # noqa: E402
from strata.v1 import persistent_pb2 as ppb  # noqa: E402
from strata.v1 import persistent_pb2_grpc as ppb_grpc  # noqa: E402
from strata.v1 import streams_pb2 as spb  # noqa: E402
from strata.v1 import streams_pb2_grpc as spb_grpc  # noqa: E402

ADDR = os.environ.get("STRATA_ADDR", "127.0.0.1:2113")
TIMEOUT = 10  # seconds per unary call, and for each wait below
EVENTS = 200


def check(cond, what):
    """Fails the example (exit 1) unless `cond` holds."""
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def wait_for(what, probe):
    """Polls `probe` until it returns something truthy; fails after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        value = probe()
        if value:
            return value
        check(time.monotonic() < deadline, f"timed out waiting for {what}")
        time.sleep(0.05)


class Consumer(threading.Thread):
    """One group consumer: a bidirectional Read call served by a thread.

    Requests (options, then acks and nacks) go through a queue that the
    call's request iterator drains; `handle(consumer, events)` decides what
    to do with each batch and returns the ids to ack.
    """

    def __init__(self, stub, group, name, handle, buffer_size=20):
        super().__init__(daemon=True)
        self.name_ = name
        self.handle = handle
        self.requests = queue.Queue()
        self.requests.put(
            ppb.GroupReadRequest(
                options=ppb.GroupReadRequest.Options(
                    group=group, buffer_size=buffer_size, consumer_name=name
                )
            )
        )
        self.call = stub.Read(iter(self.requests.get, None), timeout=60)
        self.confirmed = threading.Event()
        self.consumer_id = None
        self.acked = []  # ids this consumer acked, in order
        self.error = None

    def ack(self, ids):
        self.acked += ids
        self.requests.put(ppb.GroupReadRequest(ack=ppb.GroupReadRequest.Ack(ids=ids)))

    def nack(self, ids, action, reason):
        nack = ppb.GroupReadRequest.Nack(ids=ids, action=action, reason=reason)
        self.requests.put(ppb.GroupReadRequest(nack=nack))

    def run(self):
        try:
            for msg in self.call:
                kind = msg.WhichOneof("content")
                if kind == "confirmation":
                    self.consumer_id = msg.confirmation.consumer_id
                    self.confirmed.set()
                elif kind == "events":
                    to_ack = self.handle(self, list(msg.events.events))
                    if to_ack:
                        self.ack(to_ack)  # one message for the whole batch
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                self.error = err
        finally:
            self.requests.put(None)  # ends the request iterator

    def stop(self):
        self.call.cancel()
        self.join(TIMEOUT)
        check(not self.is_alive(), f"consumer {self.name_} did not stop")
        check(self.error is None, f"consumer {self.name_} failed: {self.error}")


def ack_all(_consumer, events):
    return [ge.event.id for ge in events]


def read(stub, stream):
    req = spb.ReadRequest(stream=stream)
    return [e for page in stub.Read(req, timeout=TIMEOUT) for e in page.events]


def main():
    run = uuid.uuid4().hex[:12]
    prefix = f"pyg-{run}-"
    shared, parking = f"py-{run}-shared", f"py-{run}-parking"

    channel = grpc.insecure_channel(ADDR)
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    streams = spb_grpc.StreamsStub(channel)
    groups = ppb_grpc.PersistentSubscriptionsStub(channel)

    # 1. A round-robin group over this run's streams, from the start.
    settings = ppb.GroupSettings(strategy=ppb.GROUP_STRATEGY_ROUND_ROBIN)
    create = ppb.CreateGroupRequest(
        group=shared,
        stream="$all",
        filter=spb.Filter(stream_prefixes=[prefix]),
        start=spb.Empty(),
        settings=settings,
    )
    info = groups.Create(create, timeout=TIMEOUT)
    check(info.group == shared and info.stream == "$all", f"created {info}")
    check(info.settings.max_in_flight == 64, f"default max_in_flight {info.settings}")
    try:
        groups.Create(create, timeout=TIMEOUT)
        check(False, "a second create succeeded")
    except grpc.RpcError as err:
        kind = dict(err.trailing_metadata() or ()).get("strata-error")
        check(err.code() == grpc.StatusCode.ALREADY_EXISTS, f"second create: {err.code()}")
        check(kind == "group-exists", f"second create kind {kind}")

    # 2. Two competing consumers join before any event exists.
    consumers = [Consumer(groups, shared, f"worker-{i}", ack_all) for i in (1, 2)]
    for c in consumers:
        c.start()
        check(c.confirmed.wait(TIMEOUT), f"{c.name_} not confirmed")
    check(consumers[0].consumer_id != consumers[1].consumer_id, "same consumer id")
    info = groups.GetInfo(ppb.GetGroupInfoRequest(group=shared), timeout=TIMEOUT)
    check(sorted(c.name for c in info.consumers) == ["worker-1", "worker-2"],
          f"consumers {info.consumers}")

    # 3. 200 events over four streams.
    appended = set()
    for s in range(4):
        events = [
            spb.ProposedEvent(
                id=str(uuid.uuid4()),
                type="TaskQueued",
                content_type="application/json",
                data=json.dumps({"task": s * 50 + i}).encode(),
            )
            for i in range(EVENTS // 4)
        ]
        appended |= {e.id for e in events}
        streams.Append(
            spb.AppendRequest(stream=f"{prefix}tasks-{s}", any=spb.Empty(), events=events),
            timeout=TIMEOUT,
        )

    # 4. Every event acked exactly once overall; both consumers worked.
    total = lambda: sum(len(c.acked) for c in consumers)  # noqa: E731
    wait_for(f"{EVENTS} acks", lambda: total() >= EVENTS)
    info = wait_for(
        "the server to count the acks",
        lambda: (lambda i: i if i.acked >= EVENTS and i.in_flight == 0 else None)(
            groups.GetInfo(ppb.GetGroupInfoRequest(group=shared), timeout=TIMEOUT)
        ),
    )
    for c in consumers:
        c.stop()
    acked = consumers[0].acked + consumers[1].acked
    check(len(acked) == EVENTS, f"{len(acked)} acks for {EVENTS} events")
    check(set(acked) == appended, "acked ids differ from the appended ones")
    check(all(c.acked for c in consumers),
          f"a consumer got nothing: {[len(c.acked) for c in consumers]}")
    check((info.acked, info.delivered, info.redelivered) == (EVENTS, EVENTS, 0),
          f"server counters acked {info.acked} delivered {info.delivered} "
          f"redelivered {info.redelivered}")
    split = [len(c.acked) for c in consumers]

    # 5. A second group on one stream; its consumer parks the first event.
    stream = f"{prefix}tasks-0"
    groups.Create(
        ppb.CreateGroupRequest(group=parking, stream=stream, start=spb.Empty()),
        timeout=TIMEOUT,
    )
    parked_id = []

    def park_first(consumer, events):
        ids = [ge.event.id for ge in events]
        if not parked_id:
            parked_id.append(ids.pop(0))
            consumer.nack(parked_id, ppb.NACK_ACTION_PARK, "demo: cannot handle it")
        return ids

    parker = Consumer(groups, parking, "parker", park_first)
    parker.start()
    wait_for("the parking consumer's acks", lambda: len(parker.acked) >= EVENTS // 4 - 1)
    parked_stream = f"$parked-{parking}"
    parked = wait_for(f"an event in {parked_stream}", lambda: read(streams, parked_stream))
    parker.stop()
    check(len(parked) == 1, f"{len(parked)} parked events")
    facts = json.loads(parked[0].metadata)["$parked"]
    check(facts["original_event_id"] == parked_id[0], f"parked {facts}")
    check(facts["original_stream"] == stream and facts["original_revision"] == 0,
          f"parked {facts}")
    check("demo: cannot handle it" in facts["reason"], f"reason {facts['reason']}")
    check(json.loads(parked[0].data) == {"task": 0}, f"parked data {parked[0].data!r}")
    info = wait_for(
        "the parked count",
        lambda: (lambda i: i if i.parked == 1 else None)(
            groups.GetInfo(ppb.GetGroupInfoRequest(group=parking), timeout=TIMEOUT)
        ),
    )

    # 6. Clean up: delete both groups; a deleted group is NOT_FOUND.
    names = {g.group for g in groups.List(ppb.ListGroupsRequest(), timeout=TIMEOUT).groups}
    check({shared, parking} <= names, f"listed {names}")
    for g in (shared, parking):
        groups.Delete(ppb.DeleteGroupRequest(group=g), timeout=TIMEOUT)
    try:
        groups.GetInfo(ppb.GetGroupInfoRequest(group=shared), timeout=TIMEOUT)
        check(False, "a deleted group still answers")
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.NOT_FOUND, f"deleted group: {err.code()}")

    print(
        f"ok: {EVENTS} events acked exactly once by two round-robin consumers "
        f"({split[0]} + {split[1]}), one event parked in {parked_stream} "
        f"({info.parked_total} parked in all), groups deleted"
    )
    channel.close()


if __name__ == "__main__":
    main()

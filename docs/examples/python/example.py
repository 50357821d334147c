"""Strata from Python, over plain gRPC with stubs generated from proto/.

Run it with run_example.sh (which installs grpcio and generates the stubs).
It talks to the server at STRATA_ADDR (default 127.0.0.1:2113) and shows:

- appending events with an expected revision, and an idempotent retry;
- a concurrency conflict: ABORTED, with the stream's actual revision in the
  trailing metadata `strata-actual-revision`;
- reading a stream forwards and backwards, and reading "$all" with a filter;
- listing streams page by page;
- a catch-up subscription that receives history, "caught up", and then a
  live event appended from another thread.

Every result is checked; any mismatch exits non-zero. Stream names carry a
random run id, so the example can run repeatedly against the same server.
"""

import os
import sys
import threading
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

import grpc  # noqa: E402
from strata.v1 import streams_pb2 as pb  # noqa: E402
from strata.v1 import streams_pb2_grpc as pb_grpc  # noqa: E402

ADDR = os.environ.get("STRATA_ADDR", "127.0.0.1:2113")
TIMEOUT = 10  # seconds per call


def check(cond, what):
    """Fails the example (exit 1) unless `cond` holds."""
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def event(event_type, data, event_id=None):
    return pb.ProposedEvent(
        id=str(event_id or uuid.uuid4()),
        type=event_type,
        content_type="application/json",
        data=data,
    )


def read(stub, stream, **kwargs):
    """Reads a stream (or "$all"), flattening the server's pages."""
    req = pb.ReadRequest(stream=stream, **kwargs)
    return [e for page in stub.Read(req, timeout=TIMEOUT) for e in page.events]


def metadata(err):
    return dict(err.trailing_metadata() or ())


def main():
    run = uuid.uuid4().hex[:12]
    prefix = f"py-{run}-"
    orders, users = prefix + "orders", prefix + "users"

    channel = grpc.insecure_channel(ADDR)
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    stub = pb_grpc.StreamsStub(channel)

    info = stub.ServerInfo(pb.ServerInfoRequest(), timeout=TIMEOUT)
    print(f"connected to strata {info.version} at {ADDR}, head position {info.head_position}")

    # 1. Append three events to a new stream.
    placed = [event("OrderPlaced", b'{"order": %d}' % i) for i in range(3)]
    req = pb.AppendRequest(stream=orders, no_stream=pb.Empty(), events=placed)
    first = stub.Append(req, timeout=TIMEOUT)
    check((first.first_revision, first.last_revision) == (0, 2), f"revisions {first}")
    check(first.last_position - first.first_position == 2, f"positions {first}")
    check(not first.deduplicated, "first append deduplicated")

    # 2. Re-sending the same events (same ids) is recognised as a retry.
    again = stub.Append(req, timeout=TIMEOUT)
    check(again.deduplicated, "retry not deduplicated")
    check(again.first_position == first.first_position, "retry positions differ")

    # 3. A conflicting append: ABORTED, actual revision in trailing metadata.
    stale = pb.AppendRequest(stream=orders, exact=0, events=[event("OrderCancelled", b"{}")])
    try:
        stub.Append(stale, timeout=TIMEOUT)
        check(False, "conflicting append succeeded")
    except grpc.RpcError as err:
        md = metadata(err)
        check(err.code() == grpc.StatusCode.ABORTED, f"conflict code {err.code()}")
        check(md.get("strata-actual-revision") == "2", f"actual revision {md}")
        check(md.get("strata-stream") == orders, f"stream metadata {md}")
        check("strata-error" in md, f"no strata-error in {md}")
    conflict_actual = md["strata-actual-revision"]

    # Appending at the right revision works.
    ok = stub.Append(
        pb.AppendRequest(stream=orders, exact=2, events=[event("OrderShipped", b'{"order": 0}')]),
        timeout=TIMEOUT,
    )
    check(ok.last_revision == 3, f"exact append {ok}")
    stub.Append(
        pb.AppendRequest(stream=users, any=pb.Empty(), events=[event("UserJoined", b'{"u": 1}')]),
        timeout=TIMEOUT,
    )

    # 4. Read the stream forwards and backwards.
    fwd = read(stub, orders)
    check([e.revision for e in fwd] == [0, 1, 2, 3], f"forward revisions {fwd}")
    check([e.type for e in fwd] == ["OrderPlaced"] * 3 + ["OrderShipped"], "forward types")
    check([e.id for e in fwd[:3]] == [e.id for e in placed], "ids differ")
    check(fwd[1].data == b'{"order": 1}', f"data {fwd[1].data!r}")
    bwd = read(stub, orders, direction=pb.DIRECTION_BACKWARDS, max_count=2)
    check([e.revision for e in bwd] == [3, 2], f"backward revisions {bwd}")

    # 5. Read "$all", filtered to this run's streams.
    flt = pb.Filter(stream_prefixes=[prefix])
    everything = read(stub, "$all", filter=flt)
    positions = [e.position for e in everything]
    check(len(everything) == 5, f"$all count {len(everything)}")
    check(positions == sorted(positions), "$all out of order")
    check([e.stream for e in everything] == [orders] * 4 + [users], "$all streams")
    back = read(stub, "$all", filter=flt, direction=pb.DIRECTION_BACKWARDS)
    check([e.position for e in back] == positions[::-1], "$all backwards")

    # 6. List this run's streams, one per page.
    names, token, pages = [], "", 0
    while True:
        page = stub.ListStreams(
            pb.ListStreamsRequest(prefix=prefix, page_token=token, page_size=1), timeout=TIMEOUT
        )
        pages += 1
        names += [(s.name, s.revision) for s in page.streams]
        token = page.next_page_token
        if not token:
            break
        check(pages < 10, "listing does not end")
    check(names == [(orders, 3), (users, 0)], f"listed {names}")

    # 7. Subscribe: history, caught up, then one live event from another thread.
    call = stub.Subscribe(pb.SubscribeRequest(stream=orders, start=pb.Empty()), timeout=30)
    history, live, caught_up = [], None, False
    writer = None
    try:
        for msg in call:
            kind = msg.WhichOneof("content")
            if kind == "events":
                if caught_up:
                    live = list(msg.events.events)
                    break
                history += msg.events.events
            elif kind == "caught_up":
                check(not caught_up, "caught_up twice")
                caught_up = True
                writer = threading.Thread(
                    target=lambda: stub.Append(
                        pb.AppendRequest(
                            stream=orders, exact=3, events=[event("OrderDelivered", b"{}")]
                        ),
                        timeout=TIMEOUT,
                    )
                )
                writer.start()
    finally:
        call.cancel()
        if writer:
            writer.join()
    check([e.revision for e in history] == [0, 1, 2, 3], f"subscription history {history}")
    check(caught_up, "never caught up")
    check(live is not None and [(e.revision, e.type) for e in live] == [(4, "OrderDelivered")],
          f"live events {live}")

    head = stub.ServerInfo(pb.ServerInfoRequest(), timeout=TIMEOUT).head_position
    check(head >= live[0].position, "head behind the last event")
    print(
        f"ok: appended 6 events to 2 streams, retry deduplicated, conflict saw actual "
        f"revision {conflict_actual}, read {len(fwd)} forwards / {len(bwd)} backwards, "
        f"{len(everything)} from $all, listed {len(names)} streams in {pages} pages, "
        f"subscription got {len(history)} + 1 live event; head position {head}"
    )
    channel.close()


if __name__ == "__main__":
    main()

"""Scrapes a live Strata's /metrics with the reference Prometheus parsers
(prometheus_client's classic text parser and its OpenMetrics parser) while
appending, reading and subscribing over gRPC, and checks that:

- every family the observability issue lists is present, in both formats;
- counters move by exactly the work this script did;
- histograms are well-formed: buckets ascending and cumulative, the +Inf
  bucket equal to _count.

Needs the stubs run_example.sh generates (docs/examples/python/gen) and a
server at STRATA_ADDR that no one else is using (counters are compared
before and after). Exits non-zero on the first failure.
"""

import os
import sys
import threading
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "docs", "examples", "python", "gen"))

import grpc  # noqa: E402
from prometheus_client.openmetrics.parser import (  # noqa: E402
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_classic  # noqa: E402
from strata.v1 import streams_pb2 as pb  # noqa: E402
from strata.v1 import streams_pb2_grpc as pb_grpc  # noqa: E402

ADDR = os.environ.get("STRATA_ADDR", "127.0.0.1:2113")
TIMEOUT = 10

# Family names as the parsers report them (counters without _total).
FAMILIES = [
    "strata_append_requests", "strata_appended_events", "strata_appended_bytes",
    "strata_append_duration_seconds", "strata_fsync_duration_seconds",
    "strata_commit_group_events", "strata_commit_group_bytes",
    "strata_writer_queue_depth", "strata_index_lag_events", "strata_head_position",
    "strata_segments", "strata_log_bytes", "strata_disk_free_bytes", "strata_disk_full",
    "strata_reads", "strata_read_events", "strata_subscriptions",
    "strata_connections_open", "strata_connections_refused", "strata_poisoned",
    "strata_snapshot_saves", "strata_snapshot_loads", "strata_group_commits",
    "process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
]


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def fetch(accept):
    req = urllib.request.Request(f"http://{ADDR}/metrics", headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return r.headers.get("Content-Type"), r.read().decode()


def samples(families):
    """{(sample name, frozenset(labels)): value} and the family types."""
    out, types = {}, {}
    for f in families:
        types[f.name] = f.type
        for s in f.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out, types


def scrape():
    ctype, text = fetch("*/*")
    check(ctype.startswith("text/plain; version=0.0.4"), f"classic content type, got {ctype}")
    classic, types = samples(parse_classic(text))
    ctype, text = fetch("application/openmetrics-text; version=1.0.0")
    check(ctype.startswith("application/openmetrics-text"), f"OpenMetrics content type, got {ctype}")
    om, om_types = samples(parse_openmetrics(text))
    for name in FAMILIES:
        check(name in types, f"family {name} missing (classic)")
        check(name in om_types, f"family {name} missing (OpenMetrics)")
    return classic, types


def value(s, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in s, f"sample {name}{labels} missing")
    return s[key]


def check_histograms(s, types):
    for fam, typ in types.items():
        if typ != "histogram":
            continue
        buckets = sorted(
            (float(dict(labels)["le"]), v) for (n, labels), v in s.items() if n == fam + "_bucket"
        )
        check(len(buckets) > 2, f"{fam}: buckets")
        check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"{fam}: cumulative")
        check(buckets[-1][0] == float("inf"), f"{fam}: +Inf bucket")
        check(buckets[-1][1] == value(s, fam + "_count"), f"{fam}: +Inf equals _count")


def main():
    channel = grpc.insecure_channel(ADDR)
    stub = pb_grpc.StreamsStub(channel)
    run = uuid.uuid4().hex[:8]
    stream = f"metrics-check-{run}"
    before, _ = scrape()

    # A subscription to the stream, open while the work happens.
    caught_up = threading.Event()
    got = []

    def subscribe():
        for m in stub.Subscribe(pb.SubscribeRequest(stream=stream), timeout=TIMEOUT * 3):
            if m.HasField("caught_up"):
                caught_up.set()
            elif m.HasField("events"):
                got.extend(m.events.events)
                if len(got) == 25:
                    return

    t = threading.Thread(target=subscribe)
    t.start()
    check(caught_up.wait(TIMEOUT), "subscription caught up")

    # 5 appends of 5 events with 10-byte bodies, then 2 reads.
    for i in range(5):
        events = [
            pb.ProposedEvent(id=str(uuid.uuid4()), type="Checked", data=b"0123456789",
                             content_type="application/octet-stream")
            for _ in range(5)
        ]
        stub.Append(pb.AppendRequest(stream=stream, any=pb.Empty(), events=events), timeout=TIMEOUT)
    read = list(stub.Read(pb.ReadRequest(stream=stream, start=pb.Empty()), timeout=TIMEOUT))
    check(sum(len(r.events) for r in read) == 25, "read back 25 events")
    t.join(TIMEOUT)
    check(len(got) == 25, "subscription delivered 25 events")

    after, types = scrape()
    delta = lambda name, **l: value(after, name, **l) - before.get((name, frozenset(l.items())), 0)  # noqa: E731
    check(delta("strata_append_requests_total", outcome="ok") == 5, "5 ok appends counted")
    check(delta("strata_appended_events_total") == 25, "25 events counted")
    check(delta("strata_appended_bytes_total") == 250, "250 bytes counted")
    check(delta("strata_append_duration_seconds_count") == 5, "5 append latencies observed")
    check(delta("strata_reads_total", kind="stream") == 1, "1 stream read counted")
    check(delta("strata_read_events_total") == 25, "25 events read counted")
    check(value(after, "strata_head_position") >= 25, "head position")
    check_histograms(after, types)
    print(f"metrics check passed: {len(FAMILIES)} families, exact counters, well-formed histograms")


if __name__ == "__main__":
    main()

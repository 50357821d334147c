"""Groups a flat `perf report` by where the time goes (kernel scheduler,
disk, network; allocator; HTTP/2; gRPC; tokio; sled; Strata's own code),
for the CPU profiles in docs/BENCHMARKS.md. Reads the report from stdin:

    perf record -e cpu-clock -F 999 -g -p "$(pgrep -f 'strata serve')" -- sleep 10
    perf report --no-children -g none --sort dso,symbol --stdio -t '|' \\
      | python3 bench/perf_summary.py

`-e cpu-clock` works where hardware counters are not exposed (these
virtual machines). Standard library only.
"""
import collections
import re
import sys

RULES = [
    ("kernel: scheduler and wake-ups", r"\[k\] (finish_task_switch|__schedule|schedule|_raw_spin_unlock_irq|try_to_wake|ttwu|futex|select_task|enqueue|dequeue|update_|pick_next|psi_|__switch_to|native_queued)"),
    ("kernel: disk I/O (fdatasync, virtio)", r"\[k\] (iowrite16|blk_|ext4|jbd2|virtblk|bio_|submit_bio|file_write|generic_perform|copy_folio_from_iter|filemap|vfs_write|folio|xas_|iomap)"),
    ("kernel: network (TCP on loopback)", r"\[k\] (tcp_|__tcp|skb|__skb|ip_|__ip|inet|__inet|sock_|sk_|net_|__netif|__dev|loopback|_copy_to_iter|_copy_from_iter|__sys_|sys_sendmsg|sys_recv|handle_softirqs|do_softirq|release_sock)"),
    ("kernel: other", r"\[k\] "),
    ("mimalloc", r"\] (_?mi_)"),
    ("libc memcpy/memset/memcmp", r"\] __mem"),
    ("h2 / hyper (HTTP/2)", r"\] <?(h2|hyper|http)::"),
    ("tonic / tower / prost (gRPC)", r"\] <?(tonic|tower|prost|strata_proto)"),
    ("tokio runtime", r"\] <?tokio::"),
    ("tracing", r"\] <?tracing"),
    ("sled (index)", r"\] <?(core::ptr::drop_in_place<)?sled::"),
    ("strata storage engine", r"\] <?strata_storage::"),
    ("strata server", r"\] <?strata::"),
]

totals = collections.Counter()
for line in sys.stdin:
    if line.startswith("#") or "|" not in line:
        continue
    pct, dso, sym = (p.strip() for p in line.split("|")[:3])
    share = float(pct.rstrip("%"))
    for name, rx in RULES:
        if re.search(rx, sym):
            totals[name] += share
            break
    else:
        totals["other userspace (" + ("libc" if "libc" in dso else "Rust std, alloc, other crates") + ")"] += share
for name, share in totals.most_common():
    print(f"| {name} | {share:.1f}% |")

"""Summarises a bench/compare.sh run: a markdown table of events/s for
PostgreSQL, UmaDB and Strata (median over the runs of each cell) with
Strata's ratios, a table of every run with its latency, the server's CPU
and peak RSS, the load at the start and the CPU other processes used
(bench/cell.py's gate), and throughput.svg (single-event appends/s vs
clients). Standard library only.

    python3 bench/compare_report.py OUT "1 8 64" RUNS
"""
import json
import os
import statistics
import sys

out, clients, runs = sys.argv[1], [int(c) for c in sys.argv[2].split()], int(sys.argv[3])


def load(system, cell):
    """Every run's report of one system's cell (missing runs skipped)."""
    reports = []
    for r in range(1, runs + 1):
        path = os.path.join(out, f"{system}-{cell}-r{r}.json")
        if os.path.exists(path):
            with open(path) as f:
                reports.append((r, json.load(f)))
    return reports


def median_ev(system, cell):
    reps = load(system, cell)
    return statistics.median(rep["events_per_s"] for _, rep in reps) if reps else None


pg = {}
with open(os.path.join(out, "postgres.tsv")) as f:
    for line in f:
        t, c, tps, per = line.split("\t")[:4]
        pg[(t, int(c))] = float(tps) * float(per)

cells = [(f"append1-c{c}", f"single-event appends, exact revision, {c} clients", ("append1", c)) for c in clients]
cells.append(("batch10-c64", "10-event appends, exact revision, 64 clients", ("batch10_stmt", 64)))
cells.append(("catchup", "catch-up read from the start, 1 client", ("catchup", 1)))


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "—"


def fmt(x):
    return f"{x:,.0f}" if x else "—"


print(f"| workload (1 KiB events, fsync on; median of {runs} runs) | PostgreSQL | UmaDB | Strata | Strata/PG | Strata/UmaDB |")
print("|---|---|---|---|---|---|")
for cell, title, pgkey in cells:
    p, u, s = pg.get(pgkey), median_ev("umadb", cell), median_ev("strata", cell)
    print(f"| {title} | {fmt(p)} | {fmt(u)} | {fmt(s)} | {ratio(s, p)} | {ratio(s, u)} |")

print()
print("| cell | system | run | events/s | p99 ms | server CPU | server peak RSS | load at start | other CPU | attempt |")
print("|---|---|---|---|---|---|---|---|---|---|")
for cell, _, _ in cells:
    for system in ("umadb", "strata"):
        for r, rep in load(system, cell):
            lat = rep.get("latency") or {}
            srv = rep.get("server") or {}
            gate = rep.get("gate") or {}
            p99 = f"{lat['p99_us'] / 1000:.1f}" if lat.get("p99_us") else "—"
            cpu = f"{srv['cpu_percent']:.0f}%" if srv else "—"
            rss = f"{srv['rss_max_mib']:.0f} MiB" if srv else "—"
            la = gate.get("load_avg_at_start", ["—"])[0]
            other = f"{gate['other_cpu_pct']}%" if "other_cpu_pct" in gate else "—"
            flag = " (disturbed)" if gate.get("disturbed") else ""
            print(f"| {cell} | {system} | {r} | {fmt(rep['events_per_s'])} | {p99} | {cpu} | {rss} | {la} | {other}{flag} | {gate.get('attempt', '—')} |")

# throughput.svg: events/s vs clients, one line per system (log-x by index).
series = {
    "PostgreSQL": [pg.get(("append1", c), 0) for c in clients],
    "UmaDB": [median_ev("umadb", f"append1-c{c}") or 0 for c in clients],
    "Strata": [median_ev("strata", f"append1-c{c}") or 0 for c in clients],
}
colors = {"PostgreSQL": "#336791", "UmaDB": "#d9822b", "Strata": "#2b9348"}
W, H, L, B = 640, 400, 80, 50
top = max(max(v) for v in series.values()) * 1.1 or 1
x = lambda i: L + i * (W - L - 40) / max(1, len(clients) - 1)
y = lambda v: H - B - v / top * (H - B - 40)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14">Durable exact-revision appends/s vs clients (1 KiB, fsync on)</text>',
       f'<line x1="{L}" y1="{H-B}" x2="{W-20}" y2="{H-B}" stroke="black"/>',
       f'<line x1="{L}" y1="{H-B}" x2="{L}" y2="30" stroke="black"/>']
for k in range(5):
    v = top * k / 4
    svg.append(f'<text x="{L-6}" y="{y(v)+4}" text-anchor="end">{v:,.0f}</text>')
    svg.append(f'<line x1="{L}" y1="{y(v)}" x2="{W-20}" y2="{y(v)}" stroke="#ddd"/>')
for i, c in enumerate(clients):
    svg.append(f'<text x="{x(i)}" y="{H-B+18}" text-anchor="middle">{c}</text>')
svg.append(f'<text x="{W/2}" y="{H-10}" text-anchor="middle">clients</text>')
for j, (name, vals) in enumerate(series.items()):
    pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
    svg.append(f'<polyline fill="none" stroke="{colors[name]}" stroke-width="2.5" points="{pts}"/>')
    for i, v in enumerate(vals):
        svg.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colors[name]}"/>')
    svg.append(f'<text x="{L+10}" y="{45+16*j}" fill="{colors[name]}">{name}</text>')
svg.append("</svg>")
with open(os.path.join(out, "throughput.svg"), "w") as f:
    f.write("\n".join(svg))

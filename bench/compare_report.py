"""Summarises a bench/compare.sh run: a markdown table of events/s for
PostgreSQL, UmaDB and Strata with Strata's ratios, and throughput.svg
(single-event appends/s vs clients). Standard library only."""
import json
import os
import sys

out, clients = sys.argv[1], [int(c) for c in sys.argv[2].split()]


def ev(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)["events_per_s"]


pg = {}
with open(os.path.join(out, "postgres.tsv")) as f:
    for line in f:
        t, c, tps, per = line.split("\t")[:4]
        pg[(t, int(c))] = float(tps) * float(per)

rows = []
for c in clients:
    rows.append((f"single-event appends, {c} clients", pg.get(("append1", c)), ev(f"umadb-append1-c{c}.json"), ev(f"strata-append1-c{c}.json")))
rows.append(("10-event appends, 64 clients", pg.get(("batch10_stmt", 64)), ev("umadb-batch10-c64.json"), ev("strata-batch10-c64.json")))
rows.append(("catch-up read from the start, 1 client", pg.get(("catchup", 1)), ev("umadb-catchup.json"), ev("strata-catchup.json")))

def ratio(a, b):
    return f"{a / b:.1f}×" if a and b else "—"

print("| workload (1 KiB events, fsync on) | PostgreSQL | UmaDB | Strata | Strata/PG | Strata/UmaDB |")
print("|---|---|---|---|---|---|")
for name, p, u, s in rows:
    fmt = lambda x: f"{x:,.0f}" if x else "—"
    print(f"| {name} | {fmt(p)} | {fmt(u)} | {fmt(s)} | {ratio(s, p)} | {ratio(s, u)} |")

# throughput.svg: events/s vs clients, one line per system (log-x by index).
series = {
    "PostgreSQL": [pg.get(("append1", c), 0) for c in clients],
    "UmaDB": [ev(f"umadb-append1-c{c}.json") for c in clients],
    "Strata": [ev(f"strata-append1-c{c}.json") for c in clients],
}
colors = {"PostgreSQL": "#336791", "UmaDB": "#d9822b", "Strata": "#2b9348"}
W, H, L, B = 640, 400, 80, 50
top = max(max(v) for v in series.values()) * 1.1 or 1
x = lambda i: L + i * (W - L - 40) / max(1, len(clients) - 1)
y = lambda v: H - B - v / top * (H - B - 40)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14">Durable single-event appends/s vs clients (1 KiB, fsync on)</text>',
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

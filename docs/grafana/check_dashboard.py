#!/usr/bin/env python3
"""Checks docs/grafana/strata.json against what a real Strata server exposes.

Usage:
    python3 docs/grafana/check_dashboard.py SCRAPE [SCRAPE ...] [--dashboard FILE]

Each SCRAPE is a file holding a /metrics response (classic Prometheus text
or OpenMetrics), a URL to fetch one from (http://127.0.0.1:2113/metrics),
or `-` for stdin. Several scrapes are merged: some series only exist after
something happened (strata_group_* series carry one `group` label per
consumer group).

It pulls every PromQL expression out of the dashboard (panel targets, also
inside rows, and the label_values() queries of template variables), finds
the metric names and label names in them, and fails (exit 1) when
  * a metric name is in no scrape,
  * a label in a selector ({group=~"..."}) is not a label of that metric,
  * a label in by/without/on/ignoring/group_left/group_right, in a
    label_values() query or in a legend ({{outcome}}) is a label of none of
    the expression's metrics,
  * the JSON lacks what Grafana needs to import it anywhere: unique panel
    ids, gridPos, refIds, a datasource that is a variable (${datasource} or
    ${DS_...}) declared by the dashboard.
`job` and `instance` are accepted everywhere: Prometheus adds them at
scrape time. When the `promql_parser` package happens to be importable
(pip install promql-parser), every panel expression is also parsed for
syntax, with Grafana's variables replaced by sample values. Metrics the
scrape has and the dashboard never uses are listed for information only.

To get a scrape with every family (from the repository root):

    cargo build -p strata-server
    D=$(mktemp -d); target/debug/strata serve --data-dir $D --listen 127.0.0.1:0 &
    # note ADDR from "strata listening on ADDR"
    python3 docs/grafana/check_dashboard.py http://ADDR/metrics

(strata_group_* families are announced by # TYPE lines even before a
group exists, which is enough for the name check; their `group` label is
known to this script so that a scrape without groups still passes.)

Standard library only.
"""

import argparse
import json
import os
import re
import sys
import urllib.request

try:  # optional: a real PromQL parser, for syntax errors
    import promql_parser
except ImportError:
    promql_parser = None

# Labels Prometheus attaches to every series it scrapes.
TARGET_LABELS = {"job", "instance"}
# Labels that only show on samples once the thing they count exists: the
# per consumer group families have no sample, so no `group` label, until a
# group exists (server/src/telemetry/scrape.rs).
KNOWN_LABELS = {
    family: {"group"}
    for family in (
        "strata_group_lag_events", "strata_group_in_flight", "strata_group_parked_events",
        "strata_group_consumers", "strata_group_delivered_total", "strata_group_acked_total",
        "strata_group_nacked_total", "strata_group_parks_total",
    )
}

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "and", "or", "unless", "inf", "nan", "atan2", "start", "end",
}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}

SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+")
LABEL_NAME_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"(?:[^"\\]|\\.)*"')
LEGEND_RE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*|\[\[[^\]]*\]\])
  | (?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)
  | (?P<number>0x[0-9a-fA-F]+|\d*\.?\d+(?:[eE][+-]?\d+)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@])
    """,
    re.VERBOSE,
)


class Scrape:
    """Metric names and the label names seen on each."""

    def __init__(self):
        self.labels = {}  # sample name -> set of label names

    def add(self, name, labels=()):
        self.labels.setdefault(name, set()).update(labels)

    def feed(self, text):
        types = {}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    types[parts[2]] = parts[3].strip()
                continue
            m = SAMPLE_RE.match(line)
            if not m:
                raise ValueError(f"cannot parse sample line: {line!r}")
            self.add(m.group(1), LABEL_NAME_RE.findall(m.group(3) or ""))
        # Families announced without samples (or in OpenMetrics, where the
        # TYPE line names the family and samples carry suffixes).
        for family, kind in types.items():
            extra = KNOWN_LABELS.get(family, set()) | KNOWN_LABELS.get(family + "_total", set())
            if kind == "counter":
                name = family if family.endswith("_total") else family + "_total"
                self.add(name, extra)
            elif kind == "histogram":
                self.add(family + "_bucket", extra | {"le"})
                self.add(family + "_sum", extra)
                self.add(family + "_count", extra)
            elif kind == "summary":
                self.add(family, extra | {"quantile"})
                self.add(family + "_sum", extra)
                self.add(family + "_count", extra)
            else:
                self.add(family, extra)


def read_scrape(source):
    if source == "-":
        return sys.stdin.read()
    if re.match(r"^https?://", source):
        req = urllib.request.Request(source, headers={"Accept": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read().decode("utf-8")
    with open(source, encoding="utf-8") as f:
        return f.read()


def tokenize(expr):
    pos, out = 0, []
    while pos < len(expr):
        m = TOKEN_RE.match(expr, pos)
        if not m:
            raise ValueError(f"cannot tokenize {expr[pos:pos + 20]!r} in {expr!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind != "ws":
            out.append((kind, m.group(kind)))
    return out


class Refs:
    """What one expression refers to."""

    def __init__(self):
        self.metrics = set()
        self.selector_labels = []  # (metric or None, label)
        self.free_labels = set()  # by(...), on(...), label_values(..., x)


def parse(expr):
    """Metric names and label names of a PromQL (or label_values) expression."""
    toks = tokenize(expr)
    refs = Refs()
    i, n = 0, len(toks)
    calls = []  # stack of function names for open parentheses
    while i < n:
        kind, text = toks[i]
        nxt = toks[i + 1] if i + 1 < n else (None, None)
        if kind == "op" and text == "[":
            while i < n and toks[i] != ("op", "]"):
                i += 1
        elif kind == "op" and text == "{":
            metric = None
            if i > 0 and toks[i - 1][0] == "ident" and toks[i - 1][1].lower() not in KEYWORDS:
                metric = toks[i - 1][1]
            i += 1
            while i < n and toks[i] != ("op", "}"):
                if toks[i][0] == "ident" and i + 1 < n and toks[i + 1][1] in ("=", "!=", "=~", "!~"):
                    label = toks[i][1]
                    if label == "__name__" and i + 2 < n and toks[i + 2][0] == "string":
                        refs.metrics.add(toks[i + 2][1][1:-1])
                    else:
                        refs.selector_labels.append((metric, label))
                i += 1
        elif kind == "ident" and text.lower() in LABEL_LIST_KEYWORDS and nxt == ("op", "("):
            i += 2
            while i < n and toks[i] != ("op", ")"):
                if toks[i][0] == "ident":
                    refs.free_labels.add(toks[i][1])
                i += 1
        elif kind == "ident" and nxt == ("op", "("):
            calls.append(text)
            i += 1
        elif kind == "ident" and nxt[0] == "ident" and nxt[1].lower() in ("by", "without"):
            pass  # an aggregation written `sum by (x) (...)`
        elif kind == "op" and text == "(":
            calls.append(None)
        elif kind == "op" and text == ")":
            if calls:
                calls.pop()
        elif kind == "op" and text == "," and calls and calls[-1] == "label_values":
            if nxt[0] == "ident":
                refs.free_labels.add(nxt[1])
                i += 1
        elif kind == "ident" and text.lower() not in KEYWORDS:
            if calls and calls[-1] == "label_values" and nxt == ("op", ")") \
                    and toks[i - 1] == ("op", "("):
                refs.free_labels.add(text)  # label_values(label)
            else:
                refs.metrics.add(text)
        i += 1
    return refs


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def declared_datasource_vars(dash):
    names = set()
    for inp in dash.get("__inputs", []):
        if inp.get("type") == "datasource":
            names.add(inp["name"])
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "datasource":
            names.add(v["name"])
    return names


def check_datasource(ds, where, declared, problems):
    if ds is None:
        return
    uid = ds.get("uid") if isinstance(ds, dict) else ds
    if isinstance(ds, dict) and ds.get("type") == "grafana":
        return
    m = re.fullmatch(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", uid or "")
    if not m:
        problems.append(f"{where}: datasource {ds!r} is not a variable; it will not import anywhere")
    elif (m.group(1) or m.group(2)) not in declared:
        problems.append(f"{where}: datasource variable {uid} is not declared")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scrapes", nargs="+", metavar="SCRAPE", help="file, URL or - (stdin)")
    ap.add_argument("--dashboard", default=os.path.join(here, "strata.json"))
    args = ap.parse_args()

    scrape = Scrape()
    for s in args.scrapes:
        scrape.feed(read_scrape(s))
    if not scrape.labels:
        sys.exit("no metrics in the scrape(s)")

    with open(args.dashboard, encoding="utf-8") as f:
        dash = json.load(f)

    problems = []
    declared = declared_datasource_vars(dash)
    if not isinstance(dash.get("schemaVersion"), int):
        problems.append("schemaVersion missing")
    if not dash.get("uid"):
        problems.append("uid missing")

    exprs = []  # (where, expr, legend)
    ids = {}
    for p in walk_panels(dash.get("panels", [])):
        title = p.get("title", "?")
        where = f"panel {p.get('id')} {title!r}"
        if p.get("id") in ids:
            problems.append(f"{where}: id also used by {ids[p.get('id')]!r}")
        ids[p.get("id")] = title
        if "gridPos" not in p:
            problems.append(f"{where}: no gridPos")
        if p.get("type") == "row":
            continue
        check_datasource(p.get("datasource"), where, declared, problems)
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"{where}: no targets")
        ref_ids = [t.get("refId") for t in targets]
        if None in ref_ids or len(set(ref_ids)) != len(ref_ids):
            problems.append(f"{where}: missing or repeated refId {ref_ids}")
        for t in targets:
            check_datasource(t.get("datasource"), f"{where} target {t.get('refId')}", declared, problems)
            if not t.get("expr"):
                problems.append(f"{where} target {t.get('refId')}: no expr")
                continue
            exprs.append((f"{where} target {t.get('refId')}", t["expr"], t.get("legendFormat", "")))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        where = f"variable ${v.get('name')}"
        check_datasource(v.get("datasource"), where, declared, problems)
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        for e in {q, v.get("definition")} - {None, ""}:
            exprs.append((where, e, ""))

    syntax_checked = 0
    for where, expr, _ in exprs:
        if promql_parser is None or where.startswith("variable "):
            continue  # label_values() is Grafana's, not PromQL
        sample = re.sub(r"\$__(rate_)?interval|\$__range", "20s", expr)
        sample = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_:]*\}?|\[\[[^\]]*\]\]", ".*", sample)
        try:
            promql_parser.parse(sample)
            syntax_checked += 1
        except Exception as err:  # the binding raises plain exceptions
            problems.append(f"{where}: PromQL syntax: {err} ({expr})")

    used = set()
    for where, expr, legend in exprs:
        try:
            refs = parse(expr)
        except ValueError as err:
            problems.append(f"{where}: {err}")
            continue
        if not refs.metrics:
            problems.append(f"{where}: no metric in {expr!r}")
        known = set(TARGET_LABELS)
        for m in refs.metrics:
            used.add(m)
            if m not in scrape.labels:
                problems.append(f"{where}: metric {m} is not in the scrape ({expr})")
            else:
                known |= scrape.labels[m]
        for metric, label in refs.selector_labels:
            if label in TARGET_LABELS:
                continue
            have = scrape.labels.get(metric, set()) if metric else known
            if metric in scrape.labels and label not in have:
                problems.append(f"{where}: {metric} has no label {label!r} (has {sorted(have)})")
            elif metric is None and label not in known:
                problems.append(f"{where}: no metric has label {label!r} ({expr})")
        for label in refs.free_labels | set(LEGEND_RE.findall(legend or "")):
            if label not in known:
                problems.append(f"{where}: label {label!r} is on none of {sorted(refs.metrics)}")

    unused = sorted(set(scrape.labels) - used)
    print(f"{len(exprs)} expressions, {len(used)} metric names, "
          f"checked against {len(scrape.labels)} names in the scrape; "
          + (f"{syntax_checked} parsed by promql_parser" if promql_parser
             else "PromQL syntax not checked (no promql_parser)"))
    if unused:
        print("in the scrape, not on the dashboard (information only):")
        for m in unused:
            print(f"  {m}")
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()

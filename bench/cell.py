"""Runs one benchmark cell of bench/compare.sh on a quiet machine, and says
how quiet it was.

    python3 bench/cell.py --out FILE.json [--setup CMD] [--teardown CMD]
        [--pid-file F] -- LOADGEN ARGS...

Before each attempt it runs --setup (for example: start a fresh UmaDB),
then waits until the whole machine has been idle for a 2-second window
(busy at most --max-busy-pct of one core, iowait counted as idle). While the
load generator runs it measures the CPU every process used (/proc/stat) and
subtracts what the load generator and the processes it started used
(getrusage of reaped children) and what the server named by --pid-file used
(/proc/PID/stat): the rest is "other CPU", work the cell did not ask for.
An attempt with more other CPU than --max-other-pct is disturbed and is run
again (up to --attempts in all); the least disturbed attempt is kept and
flagged if it is still over. The load generator's JSON report is written to
--out with a "gate" object added: load averages at the start, the idle wait,
the other CPU, the attempts.

"{server_pid}" in the load generator's arguments is replaced by the pid in
--pid-file. Standard library only. CPU figures are percent of one core.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
IDLE_WINDOW_SECONDS = 2.0
IDLE_TIMEOUT_SECONDS = 600.0


def machine_ticks():
    """(busy, all) clock ticks of every core since boot; iowait is idle."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def process_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def wait_idle(max_busy_pct):
    """Waits for a window in which the machine was busy at most
    max_busy_pct of one core; returns (seconds waited, busy % of the last
    window, whether it gave up)."""
    start = time.monotonic()
    while True:
        b0, _ = machine_ticks()
        time.sleep(IDLE_WINDOW_SECONDS)
        b1, _ = machine_ticks()
        busy = (b1 - b0) / TICKS_PER_SECOND / IDLE_WINDOW_SECONDS * 100
        waited = time.monotonic() - start
        if busy <= max_busy_pct:
            return waited, busy, False
        if waited > IDLE_TIMEOUT_SECONDS:
            return waited, busy, True


def run_shell(cmd):
    if cmd:
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


def attempt(args, command):
    run_shell(args.setup)
    try:
        pid = None
        if args.pid_file:
            with open(args.pid_file) as f:
                pid = int(f.read().strip())
        command = [c.replace("{server_pid}", str(pid)) for c in command]
        waited, busy_before, gave_up = wait_idle(args.max_busy_pct)
        load = open("/proc/loadavg").read().split()[:3]
        server0 = process_ticks(pid) if pid else None
        kids0, self0 = children_cpu_seconds(), self_cpu_seconds()
        busy0, _ = machine_ticks()
        t0 = time.monotonic()
        done = subprocess.run(command, stdout=subprocess.PIPE, check=False)
        wall = time.monotonic() - t0
        busy1, _ = machine_ticks()
        server1 = process_ticks(pid) if pid else None
        kids = children_cpu_seconds() - kids0
        mine = self_cpu_seconds() - self0
    finally:
        run_shell(args.teardown)
    if done.returncode != 0:
        sys.exit(f"cell.py: {command[0]} exited with {done.returncode}")
    server = (server1 - server0) / TICKS_PER_SECOND if server0 is not None and server1 else 0.0
    total = (busy1 - busy0) / TICKS_PER_SECOND
    other = max(0.0, total - kids - server - mine)
    report = json.loads(done.stdout)
    report["gate"] = {
        "load_avg_at_start": [float(x) for x in load],
        "idle_wait_s": round(waited, 1),
        "busy_before_pct": round(busy_before, 1),
        "idle_gate_gave_up": gave_up,
        "other_cpu_pct": round(other / wall * 100, 1),
        "cell_cpu_pct": round((kids + server) / wall * 100, 1),
    }
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--setup")
    p.add_argument("--teardown")
    p.add_argument("--pid-file")
    p.add_argument("--max-busy-pct", type=float, default=10.0)
    p.add_argument("--max-other-pct", type=float, default=10.0)
    p.add_argument("--attempts", type=int, default=3)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        sys.exit("cell.py: no load generator command after --")
    best = None
    for n in range(1, args.attempts + 1):
        report = attempt(args, command)
        report["gate"]["attempt"] = n
        other = report["gate"]["other_cpu_pct"]
        if best is None or other < best["gate"]["other_cpu_pct"]:
            best = report
        if other <= args.max_other_pct:
            break
        if n < args.attempts:
            print(f"  disturbed: {other}% of a core used by other processes; running the cell again",
                  file=sys.stderr)
    best["gate"]["disturbed"] = best["gate"]["other_cpu_pct"] > args.max_other_pct
    with open(args.out, "w") as f:
        json.dump(best, f, indent=2)
    g = best["gate"]
    print(f"  {best.get('events_per_s', 0):>10,.0f} events/s  load {g['load_avg_at_start'][0]:.2f}"
          f"  other CPU {g['other_cpu_pct']}%  attempt {g['attempt']}"
          + ("  DISTURBED" if g["disturbed"] else ""), file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""NASA C-MAPSS FD001 through the agent: a `pca` detector learns each engine's own first cycles
(no labels, no other engine) and then watches it; how long before the end of life does it warn,
and does it warn on engines that are still young?

  tests/eval/cmapss.py [--agent target/release/forewarn] [--learn 90]

One `forewarn run --exit-when-sources-end` per set (train: 100 engines run to failure; test:
100 engines cut short, their true remaining life in RUL_FD001.txt), one replay source per set
with an `asset` column, one asset per engine, cycle c at event time T0 + c s (grid 1 s). The
detector reads the 15 sensors that are not constant in FD001, with no lags (an engine's
degradation is a drift, not a dynamic), and learns each engine's first LEARN cycles; engines
with fewer than LEARN + 10 cycles are skipped. From the raised alerts read back from the
outbox, per set: engines alerted, never alerted, alerted while their true remaining life was
still above 150 cycles (a young engine: a false alert for maintenance planning), alerted within
20 cycles of the end of learning, and the lead time (end of life - first alert) as median and
10th and 90th percentile. End of life: the last cycle (train), the last cycle + true RUL (test).
Standard library only.
"""
import argparse
import os
import statistics
import sys
import tempfile

from agent import dataset, detector_alerts, have_data

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WHERE = dataset("FOREWARN_CMAPSS", "cmapss", "train_FD001.txt")
DATA = WHERE[0]
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
# Sensors that vary in FD001 (1, 5, 10, 16, 18 and 19 are constant there).
SENSORS = [2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21]
YOUNG = 150
EARLY = 20


def load(name):
    engines = {}
    with open(os.path.join(DATA, name)) as f:
        for line in f:
            v = line.split()
            if v:
                engines.setdefault(int(v[0]), []).append([float(x) for x in v])
    return engines


def run_set(agent, engines, learn, tmp, name, adapt=None):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    sig = ", ".join(f'{{ name = "s{s}" }}' for s in SENSORS)
    lst = ", ".join(f'"s{s}"' for s in SENSORS)
    used = sorted(u for u, rows in engines.items() if len(rows) >= learn + 10)
    rows = sorted((int(r[1]), u, r) for u in used for r in engines[u])
    with open(os.path.join(d, "engines.csv"), "w") as f:
        f.write("ts,asset," + ",".join(f"s{s}" for s in SENSORS) + "\n")
        for cycle, u, r in rows:
            f.write(f"{T0 + cycle},e{u}," + ",".join(repr(r[4 + s]) for s in SENSORS) + "\n")
    lines = ['[gateway]\nid = "cmapss-eval"\nsite = "eval"\ndata_dir = "data"\n',
             '[kafka]\nbootstrap_servers = "127.0.0.1:9"\n',
             '[[sources]]\ntype = "replay"\nname = "engines"\npath = "engines.csv"\nrows_per_sec = 0\n']
    for u in used:
        lines.append(f'[[assets]]\nid = "e{u}"\ninterval_secs = 0\nsignals = [{sig}]\n')
    assets = ", ".join(f'"e{u}"' for u in used)
    lines.append(f'[[detectors]]\nname = "engine"\nassets = [{assets}]\nsignals = [{lst}]\n'
                 f'grid_secs = 1\nlearn = {{ steps = {learn} }}\nlags = 0\n'
                 + (f'adapt = {{ half_life_steps = {adapt} }}\n' if adapt else ''))
    config = os.path.join(d, "forewarn.toml")
    with open(config, "w") as f:
        f.write("\n".join(lines))
    first = {}
    for rec in detector_alerts(agent, config, d):
        if rec.get("event") == "raised":
            u = int(rec["asset"][1:])
            # The step judged: [cycle, cycle + 1) s after T0.
            cycle = rec["detector"]["step_start_ns"] // 10**9 - T0
            first[u] = min(first.get(u, cycle), cycle)
    return used, first


def summary(name, used, first, eol, learn, skipped):
    alerted = [u for u in used if u in first]
    leads = sorted(eol[u] - first[u] for u in alerted)
    young = sum(1 for u in alerted if eol[u] - first[u] > YOUNG)
    early = sum(1 for u in alerted if first[u] - learn <= EARLY)

    def pct(p):
        if not leads:
            return float("nan")
        return leads[min(len(leads) - 1, int(p * (len(leads) - 1) + 0.5))]

    med = statistics.median(leads) if leads else float("nan")
    print(f"| {name} | {learn} | {len(used)} ({skipped}) | {len(alerted)} | {len(used) - len(alerted)} "
          f"| {young} | {early} | {med:g} [{pct(0.1):g}, {pct(0.9):g}] |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.path.join(REPO, "target", "release", "forewarn"))
    ap.add_argument("--learn", type=int, default=90)
    ap.add_argument("--adapt", type=int, default=None,
                    help="adaptation half-life in cycles (default: off); shows its risk")
    args = ap.parse_args()
    have_data(WHERE, "train_FD001.txt", "C-MAPSS", "FOREWARN_CMAPSS", False)
    train, test = load("train_FD001.txt"), load("test_FD001.txt")
    with open(os.path.join(DATA, "RUL_FD001.txt")) as f:
        rul = [int(x) for x in f.read().split()]
    print("| set | cycles learned | engines (skipped: too short) | alerted | never | alerted at true RUL > 150 "
          "| alerted within 20 cycles of learning | lead before end of life: median [p10, p90] |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, engines, eol in [
            ("train (run to failure)", train, {u: len(r) for u, r in train.items()}),
            ("test", test, {u: len(r) + rul[u - 1] for u, r in test.items()}),
        ]:
            used, first = run_set(args.agent, engines, args.learn, tmp, name.split()[0], args.adapt)
            summary(name, used, first, eol, args.learn, len(engines) - len(used))


if __name__ == "__main__":
    main()

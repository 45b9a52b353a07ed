#!/usr/bin/env python3
"""Tennessee Eastman through the agent: a `pca` detector learns each asset's normal from
d00.dat (500 steps of 3 min), then scores d00_te.dat and every fault file dNN_te.dat (fault
after step 160), and the alerts it raises are read back from the outbox.

  tests/eval/tep.py [--agent target/release/forewarn] [--faults 1,2,...] [--check]

One `forewarn run --exit-when-sources-end` with one replay source and one asset per file
(22 assets): each recording is d00.dat's 500 rows followed by the test file's 960, 180 s
apart. Per fault, from the alert lifecycle (raised .. cleared, a step alarmed while an alert
is up): the share of steps 161-960 alarmed (detection rate), the delay from step 160 to the
first raise (in steps), and the share of steps 1-160 alarmed; the false-alarm rate is the share
of d00_te.dat's steps alarmed. --check fails (exit 1) if a fault's detection rate or the
false-alarm rate is past the margins below, so CI can run a few faults. Standard library only.
"""
import argparse
import os
import sys
import tempfile

from agent import dataset, detector_alerts, have_data

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WHERE = dataset("FOREWARN_TEP", "tep", "d00.dat")
TEP = WHERE[0]
STEP_S = 180
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
LEARN = 500
FAULT_AT = 160
# The plain PCA reference of the data set's README (share of steps 161-960 alarmed).
REFERENCE = [1.00, .99, .01, .98, .25, 1.00, 1.00, .98, .01, .45, .66, .99, .95, 1.00, .02,
             .32, .92, .90, .09, .49, .42]
# --check: what EVALUATION.md's table measured, minus these margins.
MEASURED = {
    1: 0.993,
    2: 0.983,
    3: 0.0,
    4: 0.998,
    5: 0.448,
    6: 0.998,
    7: 0.998,
    8: 0.974,
    9: 0.0,
    10: 0.806,
    11: 0.99,
    12: 0.995,
    13: 0.949,
    14: 0.998,
    15: 0.104,
    16: 0.845,
    17: 0.971,
    18: 0.897,
    19: 0.979,
    20: 0.897,
    21: 0.512,
}
DETECTION_MARGIN = 0.03
MAX_FAR = 0.01


def rows(path, transposed=False):
    with open(path) as f:
        data = [[float(v) for v in line.split()] for line in f if line.strip()]
    if transposed:
        data = [list(col) for col in zip(*data)]
    return data


def write_replay(path, learn, test):
    with open(path, "w") as f:
        f.write("ts," + ",".join(f"v{j + 1}" for j in range(52)) + "\n")
        for i, r in enumerate(learn + test):
            f.write(f"{T0 + i * STEP_S}," + ",".join(repr(v) for v in r) + "\n")


def provisioning(tmp, files):
    signals = ", ".join(f'{{ name = "v{j + 1}" }}' for j in range(52))
    lines = [
        '[gateway]\nid = "tep-eval"\nsite = "eval"\ndata_dir = "data"\n',
        '[kafka]\nbootstrap_servers = "127.0.0.1:9"\n',
    ]
    for name in files:
        lines.append(
            f'[[sources]]\ntype = "replay"\nname = "{name}"\npath = "{name}.csv"\n'
            f'asset = "{name}"\nrows_per_sec = 0\n'
        )
        lines.append(f'[[assets]]\nid = "{name}"\nsignals = [{signals}]\n')
    sig_list = ", ".join(f'"v{j + 1}"' for j in range(52))
    assets = ", ".join(f'"{n}"' for n in files)
    lines.append(
        f'[[detectors]]\nname = "tep"\nassets = [{assets}]\nsignals = [{sig_list}]\n'
        f"grid_secs = {STEP_S}\nlearn = {{ steps = {LEARN} }}\n"
    )
    path = os.path.join(tmp, "forewarn.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def alarmed_steps(alerts, asset):
    """Steps (1-based, of the test file) alarmed while an alert of `asset` was up."""
    first_test_ns = (T0 + LEARN * STEP_S) * 10**9
    step = lambda ts: (ts - first_test_ns) // (STEP_S * 10**9) + 1
    # A step is named by its start; alerts carry the step they judged.
    events = sorted((a["detector"]["step_start_ns"], a["event"]) for a in alerts
                    if a["asset"] == asset)
    out, up = set(), None
    for ts, ev in events:
        if ev == "raised" and up is None:
            up = step(ts)
        elif ev == "cleared" and up is not None:
            out.update(range(up, step(ts)))
            up = None
    if up is not None:
        out.update(range(up, 961))
    raises = [step(ts) for ts, ev in events if ev == "raised"]
    return out, raises


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.path.join(REPO, "target", "release", "forewarn"))
    ap.add_argument("--faults", default=",".join(str(f) for f in range(1, 22)))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--skip-without-data", action="store_true",
                    help="exit 0 with a notice when the data set is not found (CI)")
    args = ap.parse_args()
    if not have_data(WHERE, "d00.dat", "TEP", "FOREWARN_TEP", args.skip_without_data):
        return
    faults = [int(f) for f in args.faults.split(",") if f]
    learn = rows(os.path.join(TEP, "d00.dat"), transposed=True)
    assert len(learn) == LEARN and len(learn[0]) == 52, "d00.dat: 52 rows of 500"
    files = {"d00": os.path.join(TEP, "d00_te.dat")}
    for f in faults:
        files[f"d{f:02d}"] = os.path.join(TEP, f"d{f:02d}_te.dat")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in files.items():
            write_replay(os.path.join(tmp, name + ".csv"), learn, rows(path))
        config = provisioning(tmp, list(files))
        alerts = detector_alerts(args.agent, config, tmp, timeout=1800)
    steps, _ = alarmed_steps(alerts, "d00")
    far = len(steps) / 960
    print("| fault | reference | detection rate (steps 161-960) | delay (steps) | alarmed steps 1-160 |")
    print("|---|---|---|---|---|")
    failed = []
    dets = []
    for f in faults:
        steps, raises = alarmed_steps(alerts, f"d{f:02d}")
        det = len([s for s in steps if s > FAULT_AT]) / (960 - FAULT_AT)
        pre = len([s for s in steps if s <= FAULT_AT]) / FAULT_AT
        after = [r for r in raises if r > FAULT_AT]
        delay = after[0] - FAULT_AT if after else None
        dets.append(det)
        print(f"| {f} | {REFERENCE[f - 1]:.2f} | {det:.3f} | {delay} | {pre:.3f} |")
        if args.check and f in MEASURED and det < MEASURED[f] - DETECTION_MARGIN:
            failed.append(f"fault {f}: detection {det:.3f} < {MEASURED[f]:.3f} - {DETECTION_MARGIN}")
    print(f"| mean | {sum(REFERENCE[f - 1] for f in faults) / len(faults):.2f} | "
          f"{sum(dets) / len(dets):.3f} | | |")
    print(f"\nFalse-alarm rate on d00_te.dat: {far:.4f} ({round(far * 960)} of 960 steps)")
    if args.check and far > MAX_FAR:
        failed.append(f"false-alarm rate {far:.4f} > {MAX_FAR}")
    if failed:
        sys.exit("regressed: " + "; ".join(failed))


if __name__ == "__main__":
    main()

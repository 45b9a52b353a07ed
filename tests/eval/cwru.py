#!/usr/bin/env python3
"""CWRU bearings through the agent: a `pca` detector over vibration feature vectors learns the
healthy bearing's recording (no labels, no fault data) and then watches the same bearing and
each seeded fault.

  tests/eval/cwru.py [--agent target/debug/forewarn] [--check]

Data: `../shared/datasets/cwru_bearing` (README there): the drive-end accelerometer of the healthy
bearing (`Normal_0.mat`, recorded at 48 kHz, low-pass filtered and decimated by 4 to 12 kHz
here) and of three 0.007 in faults at 12 kHz (inner race, ball, outer race), all at 0 hp.

Per fault, one asset whose stream is the healthy recording's first 70 % (learned), its last
30 % (held out: the healthy bearing, which must stay silent) and then the fault's recording,
on one event-time axis at 12 kHz; a fourth asset gets the healthy recording only. One
`forewarn run --exit-when-sources-end` on a replay source; alerts read back from the outbox.

The detector reads generic features of `vib` (no bearing's defect frequencies, nothing
chosen on these files): rms, peak_to_peak, crest_factor, skewness, kurtosis,
spectral_centroid and the energy of eight 750 Hz bands from 0 to 6 kHz, over windows of 2048
samples every 512. Reported per asset: raised alerts on the held-out healthy part, whether the
fault raised, the delay from the fault's first sample to the raise, and the share of the fault's
windows inside a raised alert. `--check` fails unless every fault raises, within 2 s of event
time, and the healthy bearing stays silent. Standard library only.
"""
import argparse
import math
import os
import struct
import sys
import tempfile

from agent import dataset, detector_alerts, have_data

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WHERE = dataset("FOREWARN_CWRU", "cwru_bearing", "Normal_0.mat")
DATA = WHERE[0]
FS = 12_000
T0_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
WINDOW, HOP = 2048, 512
LEARN_SHARE = 0.7
FAULTS = [("inner-race", "IR007_0.mat"), ("ball", "B007_0.mat"), ("outer-race", "OR007@6_0.mat")]
FEATURES = ["rms", "peak_to_peak", "crest_factor", "skewness", "kurtosis", "spectral_centroid"] + [
    f"band_energy[{lo},{lo + 750}]" for lo in range(0, 6000, 750)]
MAX_DELAY_SECS = 2.0


def read_mat(path, suffix):
    """The first double column vector whose name ends with `suffix` in a MATLAB level-5 file
    of uncompressed miMATRIX elements (the README's layout)."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 128
    while pos + 8 <= len(data):
        typ, size = struct.unpack_from("<II", data, pos)
        body, pos = pos + 8, pos + 8 + size + (-size % 8)
        if typ != 14:  # miMATRIX
            continue
        sub, end, parts = body, body + size, []
        while sub + 8 <= end:
            st, ss = struct.unpack_from("<II", data, sub)
            if st >> 16:  # small data element: size in the upper half, data in the tag
                parts.append((st & 0xFFFF, data[sub + 4:sub + 4 + (st >> 16)]))
                sub += 8
            else:
                parts.append((st, data[sub + 8:sub + 8 + ss]))
                sub += 8 + ss + (-ss % 8)
        name = parts[2][1].decode("ascii")
        if name.endswith(suffix):
            typ, raw = parts[3]
            if typ != 9:  # miDOUBLE
                sys.exit(f"{path}: {name} is not stored as doubles")
            return list(struct.unpack(f"<{len(raw) // 8}d", raw))
    sys.exit(f"{path}: no variable ending in {suffix}")


def decimate4(x):
    """Low-pass (windowed sinc, Hamming, 5 kHz at 48 kHz, 129 taps) and keep every 4th."""
    taps, cut = 129, 5000 / 48000
    h = []
    for i in range(taps):
        n = i - (taps - 1) / 2
        s = 2 * cut if n == 0 else math.sin(2 * math.pi * cut * n) / (math.pi * n)
        h.append(s * (0.54 - 0.46 * math.cos(2 * math.pi * i / (taps - 1))))
    g = sum(h)
    h = [v / g for v in h]
    out = []
    for k in range(taps - 1, len(x), 4):
        out.append(sum(h[i] * x[k - i] for i in range(taps)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.path.join(REPO, "target", "debug", "forewarn"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--skip-without-data", action="store_true",
                    help="exit 0 with a notice when the data set is not found (CI)")
    args = ap.parse_args()
    if not have_data(WHERE, "Normal_0.mat", "CWRU", "FOREWARN_CWRU", args.skip_without_data):
        return
    agent = os.path.abspath(args.agent)

    normal = decimate4(read_mat(os.path.join(DATA, "Normal_0.mat"), "_DE_time"))
    cut = int(len(normal) * LEARN_SHARE)
    learn_windows = (cut - WINDOW) // HOP + 1
    streams = {"healthy": (normal, None)}
    for name, file in FAULTS:
        streams[name] = (normal, read_mat(os.path.join(DATA, file), "_DE_time"))

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "vib.csv"), "w") as f:
            f.write("ts,asset,vib\n")
            for asset, (healthy, fault) in streams.items():
                for i, v in enumerate(healthy + (fault or [])):
                    f.write(f"{T0_NS + i * 10**9 // FS},{asset},{v!r}\n")
        lst = ", ".join(f'"{k}"' for k in FEATURES)
        lines = ['[gateway]\nid = "cwru-eval"\nsite = "eval"\ndata_dir = "data"\n',
                 '[kafka]\nbootstrap_servers = "127.0.0.1:9"\n',
                 '[[sources]]\ntype = "replay"\nname = "vib"\npath = "vib.csv"\n'
                 'rows_per_sec = 0\n']
        for asset in streams:
            lines.append(f'[[assets]]\nid = "{asset}"\ninterval_secs = 0\n'
                         f'signals = [{{ name = "vib" }}]\n')
        assets = ", ".join(f'"{a}"' for a in streams)
        lines.append(f'[[detectors]]\nname = "bearing"\nassets = [{assets}]\nsignals = ["vib"]\n'
                     f'features = [{lst}]\n'
                     f'window = {{ samples = {WINDOW}, hop = {HOP}, sample_rate_hz = {FS} }}\n'
                     f'learn = {{ steps = {learn_windows} }}\n')
        config = os.path.join(tmp, "forewarn.toml")
        with open(config, "w") as f:
            f.write("\n".join(lines))
        alerts = detector_alerts(agent, config, tmp)

    fault_ns = T0_NS + len(normal) * 10**9 // FS
    held_out_ns = T0_NS + cut * 10**9 // FS
    print(f"healthy recording: {len(normal)} samples at 12 kHz ({len(normal) / FS:.2f} s); "
          f"learned {learn_windows} windows of {WINDOW} (hop {HOP}), held out "
          f"{(len(normal) - cut) / FS:.2f} s")
    print(f"features: {', '.join(FEATURES)}\n")
    print(f"{'asset':<12} {'healthy alerts':>14} {'fault raised':>12} {'delay s':>8} "
          f"{'in alert':>9}  top contribution")
    failures = []
    for asset, (_, fault) in streams.items():
        mine = sorted((a for a in alerts if a["asset"] == asset),
                      key=lambda a: a["detector"]["step_start_ns"])
        healthy = [a for a in mine if a["event"] == "raised"
                   and held_out_ns <= a["detector"]["step_start_ns"] < fault_ns
                   and a["detector"]["step_start_ns"] < fault_ns - WINDOW * 10**9 // FS]
        early = [a for a in mine if a["event"] == "raised"
                 and a["detector"]["step_start_ns"] < held_out_ns]
        if healthy or early:
            failures.append(f"{asset}: {len(healthy) + len(early)} alerts on the healthy bearing")
        if fault is None:
            print(f"{asset:<12} {len(healthy) + len(early):>14} {'-':>12} {'-':>8} {'-':>9}")
            continue
        # A window ending after the fault's first sample sees the fault.
        raised = [a for a in mine if a["event"] == "raised"
                  and a["detector"]["step_end_ns"] > fault_ns]
        end_ns = fault_ns + len(fault) * 10**9 // FS
        in_alert, open_at = 0, None
        for a in mine:
            t = a["detector"]["step_end_ns"]
            if t <= fault_ns:
                continue
            if a["event"] == "raised":
                open_at = t
            elif a["event"] == "cleared" and open_at is not None:
                in_alert += t - open_at
                open_at = None
        if open_at is not None:
            in_alert += end_ns - open_at
        share = in_alert / (end_ns - fault_ns)
        if raised:
            delay = (raised[0]["detector"]["step_end_ns"] - fault_ns) / 1e9
            top = raised[0]["detector"]["contributions"][0]
            top_s = f"{top['signal']} ({top['share']:.2f})"
        else:
            delay, top_s = float("nan"), "-"
        print(f"{asset:<12} {len(healthy) + len(early):>14} {'yes' if raised else 'no':>12} "
              f"{delay:>8.2f} {share:>9.0%}  {top_s}")
        if not raised:
            failures.append(f"{asset}: the fault raised no alert")
        elif delay > MAX_DELAY_SECS:
            failures.append(f"{asset}: raised {delay:.2f} s after the fault began")
    if args.check and failures:
        sys.exit("cwru check failed: " + "; ".join(failures))
    if args.check:
        print("\ncwru check passed")


if __name__ == "__main__":
    main()

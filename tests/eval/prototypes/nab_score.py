"""NAB scorer, written from the published rules (Lavin & Ahmad 2015, "Evaluating Real-time
Anomaly Detection Algorithms - the Numenta Anomaly Benchmark", and the NAB README/wiki).

Run the sanity checks:  python3 nab_score.py

Rules implemented (per data file):
  * Windows come from labels/combined_windows.json (start, end timestamps, inclusive).
  * Probationary period: the first P = min(floor(0.15 * n), floor(0.15 * 5000)) rows; a
    detector may learn there, its detections there are ignored. (Windows are still counted.)
  * Every row gets a weight from the scaled sigmoid  s(y) = 2 / (1 + exp(5 y)) - 1
    (and s(y) = -1 for y > 3):
      - inside a window of w rows whose last row is r:  y = -(r - i + 1) / w   (in [-1, 0)),
        so the first row of a window is worth s(-1) = 0.9866, the last s(-1/w) ~ 0;
      - after a window (before the next), with r, w the previous window's last row and width:
        y = |i - r| / (w - 1)  (> 0, so the weight is negative, -> -1 far away);
      - before the first window (or in a file without windows): weight -1.
  * A "detection" is a row flagged by the detector (the caller decides what a detection is; in
    our evaluation it is the row where an alert is RAISED, not every row it stays active).
  * Score with the profile weights (A_TP, A_FP, A_FN):
      - each window with >= 1 detection: + A_TP * max weight of its detected rows
        (the earliest detection counts, once per window);
      - each window without detection: - A_FN;           (A_FN given as a positive 1.0 here)
      - each detection outside windows: + A_FP * |weight|  with A_FP negative (-0.11)
        i.e. a false positive just after a window costs less than one far from any window.
  * Normalised score over a set of files: 100 * (S - S_null) / (S_perfect - S_null), with S the
    sum of the raw file scores, S_null the score of the detector that never fires
    (= -A_FN * number of windows) and S_perfect that of one firing exactly on each window's
    first row (= A_TP * 0.9866 * number of windows).
  * NAB optimises one threshold per detector and profile over all files (maximising the summed
    raw score). `optimise()` does that over a caller-provided family of detections.
Profiles (NAB config/profiles.json): standard A_TP=1, A_FP=-0.11, A_FN=-1 (FN passed as 1.0);
reward_low_FP_rate A_FP=-0.22; reward_low_FN_rate A_FN=-2.0, A_FP=-0.11.
"""
import csv
import json
import math
import os

import numpy as np

NAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "datasets", "nab-dev")

PROFILES = {
    "standard": dict(tp=1.0, fp=-0.11, fn=1.0),
    "reward_low_FP_rate": dict(tp=1.0, fp=-0.22, fn=1.0),
    "reward_low_FN_rate": dict(tp=1.0, fp=-0.11, fn=2.0),
}


def scaled_sigmoid(y):
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation_len(n, pct=0.15):
    return int(min(math.floor(pct * n), math.floor(pct * 5000)))


def load_file(rel):
    """-> (timestamps as datetime64[s] array, values float array)"""
    ts, vals = [], []
    with open(os.path.join(NAB, "data", rel)) as fh:
        r = csv.reader(fh)
        next(r)
        for row in r:
            ts.append(np.datetime64(row[0].replace(" ", "T")[:19]))
            vals.append(float(row[1]))
    return np.array(ts, dtype="datetime64[s]"), np.array(vals)


def load_windows():
    with open(os.path.join(NAB, "labels", "combined_windows.json")) as fh:
        w = json.load(fh)
    return {k: [(np.datetime64(a.replace(" ", "T")[:19]), np.datetime64(b.replace(" ", "T")[:19]))
                for a, b in v] for k, v in w.items()}


class FileLabels:
    """Per-row weights and window ids of one file (precomputed once)."""

    def __init__(self, ts, windows):
        n = len(ts)
        self.n = n
        self.prob = probation_len(n)
        self.win_id = np.full(n, -1, dtype=int)
        self.weight = np.full(n, -1.0)
        spans = []
        for a, b in windows:
            idx = np.flatnonzero((ts >= a) & (ts <= b))
            if len(idx):
                spans.append((idx[0], idx[-1]))
        self.n_windows = len(windows)
        prev = None  # (right index, width)
        wi = 0
        for i in range(n):
            if wi < len(spans) and spans[wi][0] <= i <= spans[wi][1]:
                l, r = spans[wi]
                w = r - l + 1
                self.win_id[i] = wi
                self.weight[i] = scaled_sigmoid(-(r - i + 1) / w)
                if i == r:
                    prev = (r, w)
                    wi += 1
            elif prev is not None:
                r, w = prev
                self.weight[i] = scaled_sigmoid(abs(i - r) / max(w - 1, 1))
            else:
                self.weight[i] = -1.0
        self.spans = spans

    def score(self, detect, profile="standard"):
        """detect: bool array (n,). Returns (raw score, tp windows, fp count, fn windows)."""
        p = PROFILES[profile]
        d = np.asarray(detect, dtype=bool).copy()
        d[: self.prob] = False
        best = {}
        fp_score, n_fp = 0.0, 0
        for i in np.flatnonzero(d):
            w = self.win_id[i]
            if w >= 0:
                best[w] = max(best.get(w, -1.0), self.weight[i])
            else:
                fp_score += -p["fp"] * self.weight[i]  # weight<0, fp<0 -> negative
                n_fp += 1
        tp_score = p["tp"] * sum(best.values())
        n_fn = self.n_windows - len(best)
        return tp_score + fp_score - p["fn"] * n_fn, len(best), n_fp, n_fn

    def perfect(self, profile="standard"):
        return PROFILES[profile]["tp"] * scaled_sigmoid(-1.0) * self.n_windows

    def null(self, profile="standard"):
        return -PROFILES[profile]["fn"] * self.n_windows


def normalised(raw_total, labels, profile="standard"):
    perf = sum(l.perfect(profile) for l in labels)
    null = sum(l.null(profile) for l in labels)
    return 100.0 * (raw_total - null) / (perf - null)


def score_set(detections, labels, profile="standard"):
    """detections, labels: dicts file -> bool array / FileLabels. -> (normalised, details)"""
    tot, det = 0.0, {}
    for f, lab in labels.items():
        s, tp, fp, fn = lab.score(detections[f], profile)
        tot += s
        det[f] = (s, tp, fp, fn)
    return normalised(tot, labels.values(), profile), det


def optimise(detections_by_param, labels, profile="standard"):
    """NAB-style threshold optimisation: detections_by_param = {param: {file: bool array}};
    returns (best param, best normalised score)."""
    best = None
    for prm, dets in detections_by_param.items():
        s, _ = score_set(dets, labels, profile)
        if best is None or s > best[1]:
            best = (prm, s)
    return best


def load_all():
    wins = load_windows()
    files, labels = {}, {}
    for rel in sorted(wins):
        ts, v = load_file(rel)
        files[rel] = (ts, v)
        labels[rel] = FileLabels(ts, wins[rel])
    return files, labels


if __name__ == "__main__":
    files, labels = load_all()
    n_win = sum(l.n_windows for l in labels.values())
    print(f"{len(files)} files, {n_win} windows")
    # sanity 1: null detector = 0
    null = {f: np.zeros(l.n, bool) for f, l in labels.items()}
    s0, _ = score_set(null, labels)
    # sanity 2: perfect detector (first row of each window) = 100
    perf = {}
    for f, l in labels.items():
        d = np.zeros(l.n, bool)
        for a, b in l.spans:
            d[a] = True
        perf[f] = d
    s100, _ = score_set(perf, labels)
    # sanity 3: detecting at the last row of each window: TP weight ~ 0 instead of -1 for a miss,
    # so about half-way between null (0) and perfect (100)
    last = {}
    for f, l in labels.items():
        d = np.zeros(l.n, bool)
        for a, b in l.spans:
            d[b] = True
        last[f] = d
    slast, _ = score_set(last, labels)
    # sanity 4: detecting every row is very negative
    allr = {f: np.ones(l.n, bool) for f, l in labels.items()}
    sall, _ = score_set(allr, labels)
    # sanity 5: detections in the probationary period are ignored
    prob = {f: np.r_[np.ones(l.prob, bool), np.zeros(l.n - l.prob, bool)] for f, l in labels.items()}
    sprob, _ = score_set(prob, labels)
    # sanity 6: perfect + every window detected on all its rows = still 100 (one TP per window)
    full = {}
    for f, l in labels.items():
        d = np.zeros(l.n, bool)
        for a, b in l.spans:
            d[a:b + 1] = True
        full[f] = d
    sfull, _ = score_set(full, labels)
    print(f"null={s0:.3f} perfect={s100:.3f} last-row={slast:.3f} every-row={sall:.1f} "
          f"probation-only={sprob:.3f} whole-windows={sfull:.3f}")
    assert abs(s0) < 1e-9 and abs(s100 - 100) < 1e-9 and abs(sprob) < 1e-9
    assert abs(sfull - 100) < 1e-9 and sall < -100 and 45 < slast < 55
    # weights: first row of a window 0.9866, just after a window slightly negative
    assert abs(scaled_sigmoid(-1.0) - 0.986614) < 1e-6 and scaled_sigmoid(3.5) == -1.0
    print("sanity checks passed")

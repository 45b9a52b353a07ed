"""Write `tep-reactor.csv`, the Tennessee Eastman recording `forewarn demo` replays to show a
detector that learns normal and explains a fault, from the Braatz reference data (BSD-3-Clause,
copyright The Board of Trustees of the University of Illinois; github.com/jkitchin/
tennessee-eastman-profbraatz, `data/`). Standard library only:

    python3 firmware-config/recordings/make_tep_recording.py [TEP_DIR]

TEP_DIR (default: the shared datasets beside the checkout) holds `d00.dat` and `d04_te.dat`.
Rows: the 500 samples of `d00.dat` (normal operation, what the detector learns), then the first
200 of `d04_te.dat`: 160 normal, then 40 with fault IDV(4), a step in the reactor cooling water
inlet temperature. One sample per 3 min of event time from 2026-01-05T08:00:00Z; 52 columns,
`xmeas1`..`xmeas41` then `xmv1`..`xmv11`, each with the decimals that resolve a tenth of its
standard deviation in `d00.dat` (the demo is embedded in the binary, whose size CI guards).
"""

import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
T0 = 1_767_600_000  # 2026-01-05T08:00:00Z
STEP_S = 180
TEST_ROWS = 200
NAMES = [f"xmeas{j}" for j in range(1, 42)] + [f"xmv{j}" for j in range(1, 12)]


def rows(path, transposed=False):
    with open(path) as f:
        data = [[float(v) for v in line.split()] for line in f if line.strip()]
    return [list(c) for c in zip(*data)] if transposed else data


def main():
    tep = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "datasets" / "tep"
    learn = rows(tep / "d00.dat", transposed=True)
    test = rows(tep / "d04_te.dat")[:TEST_ROWS]
    assert all(len(r) == 52 for r in learn + test)
    decimals = [max(0, math.ceil(-math.log10(statistics.pstdev(c) / 10))) for c in zip(*learn)]
    out = HERE / "tep-reactor.csv"
    with open(out, "w") as f:
        f.write("ts," + ",".join(NAMES) + "\n")
        for i, r in enumerate(learn + test):
            f.write(f"{T0 + i * STEP_S}," + ",".join(f"{v:.{d}f}" for v, d in zip(r, decimals)) + "\n")
    print(f"{out.name}: {len(learn)} + {len(test)} rows, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()

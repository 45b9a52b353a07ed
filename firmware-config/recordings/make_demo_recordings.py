"""Write the recordings `forewarn demo` replays, from the replay excerpts of the shipped model
packages (models/<name>/replay/, themselves cut from the public data sets by the training
scripts). Standard library only:

    python3 firmware-config/recordings/make_demo_recordings.py

Each output is the replay source's CSV: `ts`, an `asset` column when the file holds several
assets (otherwise the source's `asset` applies), then one column per signal; rows in event-time
order. Values are copied as written.
"""

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE.parents[1] / "models"

# (asset, source file) per output file; bearing excerpts are cut to their first samples.
TURBOFAN = [("engine-81", "turbofan-rul/replay/fd001_test_unit81.csv"),
            ("engine-89", "turbofan-rul/replay/fd001_test_unit89.csv")]
BEARING_HEALTHY = [("bearing-healthy", "bearing-fault/replay/normal.csv")]
BEARING_WORN = [("bearing-worn", "bearing-fault/replay/inner_race.csv")]
BEARING_SAMPLES = 6144  # 0.51 s at 12 kHz: five windows of 2048 samples, hop 1024
AI4I = [("mill-1", "process-failure/replay/ai4i_rows.csv")]


def rows_of(asset: str, path: Path, limit=None):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = [[row[0], asset] + row[1:] for row in r]
    return header, rows[:limit] if limit else rows


def write(name: str, parts, limit=None) -> None:
    with_asset = len(parts) > 1
    header, rows = None, []
    for asset, rel in parts:
        h, r = rows_of(asset, MODELS / rel, limit)
        assert header is None or h == header, (rel, h, header)
        header = h
        rows += r
    rows.sort(key=lambda row: (int(row[0]), row[1]))
    out = HERE / name
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if with_asset:
            w.writerow([header[0], "asset"] + header[1:])
            w.writerows(rows)
        else:
            w.writerow(header)
            w.writerows([row[0]] + row[2:] for row in rows)
    print(f"{out.name}: {len(rows)} rows, {out.stat().st_size} bytes")


if __name__ == "__main__":
    write("turbofan-fd001-test-units.csv", TURBOFAN)
    write("cwru-bearing-healthy.csv", BEARING_HEALTHY, BEARING_SAMPLES)
    write("cwru-bearing-worn.csv", BEARING_WORN, BEARING_SAMPLES)
    write("ai4i-mill.csv", AI4I)

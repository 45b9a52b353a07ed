"""What every evaluation script does with the agent: run it on a provisioning file until its
replay sources end, then read the detectors' alerts back from its outbox. Standard library."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def dataset(env, folder, probe):
    """Where a shared data set is: `$env`, else `../shared/datasets/<folder>` beside the
    checkout, else this project's machines' shared folder (the first holding `probe`, a path
    inside the set; the second when none does). Returns (path, the places looked)."""
    places = [os.environ.get(env, ""), os.path.join(REPO, "..", "shared", "datasets", folder),
              os.path.join("/work/shared/datasets", folder)]
    found = next((c for c in places if c and os.path.exists(os.path.join(c, probe))), places[1])
    return found, places


def have_data(where, probe, name, env, skip):
    """False (after a notice) when the set is missing and `skip` (CI's --skip-without-data);
    exits the script when it is missing otherwise; True when it is there."""
    path, places = where
    if os.path.exists(os.path.join(path, probe)):
        return True
    msg = f"{name} data not found ({env}, {places[1]}, {places[2]})"
    if skip:
        print(f"{msg}: the evaluation is skipped")
        return False
    sys.exit(msg)


def detector_alerts(agent, config, cwd, timeout=3600):
    """`forewarn run --exit-when-sources-end` in `cwd` (its `data` directory holds the outbox),
    then the records of `outbox dump --class alert` that carry a `detector` block. Exits the
    script with the agent's stderr if the run fails."""
    run = subprocess.run([agent, "run", "--config", config, "--exit-when-sources-end"],
                         cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        sys.exit(f"forewarn run exited {run.returncode}")
    dump = subprocess.run([agent, "outbox", "dump", "--data-dir", os.path.join(cwd, "data"),
                           "--class", "alert"], capture_output=True, text=True, check=True)
    alerts = []
    for line in dump.stdout.splitlines():
        entry = json.loads(line)
        rec = entry.get("record", entry)
        if rec.get("detector"):
            alerts.append(rec)
    return alerts

"""What every evaluation script does with the agent: run it on a provisioning file until its
replay sources end, then read the detectors' alerts back from its outbox. Standard library."""
import json
import os
import subprocess
import sys


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

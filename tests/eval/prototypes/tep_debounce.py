"""Chosen TEP detector with the agent's k-of-n debounce on top of the index.
Run: python3 (numpy, scipy: models/requirements.txt) tep_debounce.py"""
import numpy as np
from teplib import load_tep, metrics, kofn
from detector import PcaDual
learn, tests = load_tep()
det = PcaDual(lags=2).learn(learn)
U = {f: det.score(X, continue_from_learning=False) for f, X in tests.items()}
for k, n in ((1, 1), (2, 3), (3, 5)):
    for mg in (1.0, 1.1, 1.2):
        res = metrics({f: kofn(u > mg, k, n) for f, u in U.items()})
        d = [res[f]["det"] for f in range(1, 22)]
        dl = [res[f]["delay"] for f in (1, 2, 4, 6, 7, 14)]
        print(f"{k}-of-{n} margin {mg}: mean_det={np.mean(d):.3f} FAR_d00te={res[0]['far']:.4f} "
              f"FAR_pre={np.mean([res[f]['far_pre'] for f in range(1, 22)]):.4f} delays(f1,2,4,6,7,14)={dl}")

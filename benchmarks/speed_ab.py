"""Pretraining speed of two checkouts of skdeepcluster, measured alternately in one run.

Each round runs, in a fresh process per checkout (A B A B ...), ``AutoEncoder.fit`` of the
papers' network (784-500-500-2000-10) on 20,000 random rows for 2 epochs, in three
settings: SGD on float32 input, Adam on float32 input, SGD on float64 input (squared error,
``mixed_precision=False`` everywhere, so that both checkouts do the same arithmetic).
``--defaults`` adds a fourth setting: ``AutoEncoder``'s own defaults (only the network,
batch size and epochs pinned), which on these rows in [0, 1] of 28 x 28 values means the
augmented pretraining, the cross-entropy, SGD and, on a CPU with native bfloat16, bf16
autocast. Prints samples/s per setting, per checkout and round, and the median ratio B/A.

    git worktree add /tmp/before HEAD~1
    python benchmarks/speed_ab.py /tmp/before . --rounds 2

Run it alone on the machine: a second process on 2 cores distorts the times.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from skdeepcluster import AutoEncoder
X = np.random.default_rng(0).random((20000, 784), dtype=np.float32)
out = {}
for name, optimizer, data in [("sgd_float32", "sgd", X), ("adam_float32", "adam", X),
                              ("sgd_float64", "sgd", X.astype(np.float64))]:
    ae = AutoEncoder(hidden_dims=(500, 500, 2000), batch_size=256, max_epochs=2,
                     optimizer=optimizer, loss="squared_error", mixed_precision=False,
                     device="cpu", random_state=0)
    start = time.perf_counter()
    ae.fit(data)
    out[name] = 2 * len(X) / (time.perf_counter() - start)
if sys.argv[2] == "1":
    ae = AutoEncoder(hidden_dims=(500, 500, 2000), batch_size=256, max_epochs=2,
                     device="cpu", random_state=0)
    start = time.perf_counter()
    ae.fit(X)
    out["defaults"] = 2 * len(X) / (time.perf_counter() - start)
print(json.dumps(out))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="source directory of checkout A (holds skdeepcluster/)")
    p.add_argument("b", help="source directory of checkout B")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--defaults", action="store_true",
                   help="also time AutoEncoder's defaults (augmentation, autocast)")
    args = p.parse_args(argv)
    runs = {"a": [], "b": []}
    for r in range(args.rounds):
        for key in ("a", "b"):
            src = os.path.abspath(getattr(args, key))
            line = subprocess.run([sys.executable, "-c", _CHILD, src,
                                   str(int(args.defaults))], check=True,
                                  capture_output=True, text=True).stdout.strip()
            runs[key].append(json.loads(line))
            print(f"round {r} {key.upper()} ({src}):",
                  {k: round(v) for k, v in runs[key][-1].items()}, flush=True)
    for setting in runs["a"][0]:
        ratios = [b[setting] / a[setting] for a, b in zip(runs["a"], runs["b"])]
        print(f"{setting}: B/A = {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()

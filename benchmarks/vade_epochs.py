"""VaDE's accuracy after every epoch of its clustering phase (how long is long enough).

For each seed, the autoencoder of ``run.py`` (same arguments, same ``--cache``) is the
start, and ``VaDEClusterer(n_clusters=k, autoencoder=ae, max_epochs=...)`` is fitted with
a callback that scores the labels of the whole training set (each sample's most probable
component, as ``predict`` gives) after every epoch. One JSON line per (seed, epoch) is
appended to ``--out``.

Example::

    OMP_NUM_THREADS=1 python benchmarks/vade_epochs.py --dataset mnist \\
        --data-home ../shared/data --seeds 0 --threads 1 --max-epochs 37 \\
        --cache /tmp/cache --out /tmp/vade_epochs.jsonl
"""

import argparse
import json
import os
import sys
import time

import torch
from skorch.callbacks import Callback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import DATASETS, load, pretrained, scores  # noqa: E402

from skdeepcluster import VaDEClusterer  # noqa: E402
from skdeepcluster._vade import _VaDEPhase  # noqa: E402


class EpochScores(Callback):
    """Scores the training set's labels after every epoch; writes one JSON line each."""

    def __init__(self, Xt, y, record, out):
        self.Xt, self.y, self.record, self.out = Xt, y, record, out

    def on_epoch_end(self, net, **kwargs):
        labels = _VaDEPhase(self.Xt).current_labels(net).cpu().numpy()
        row = {**self.record, "epoch": len(net.history), **scores(self.y, labels)}
        print(row, flush=True)
        if self.out:
            with open(self.out, "a") as f:
                f.write(json.dumps(row) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=DATASETS, default="mnist")
    p.add_argument("--data-home", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--n", type=int, default=None, help="use the first N rows only")
    p.add_argument("--max-epochs", type=int, default=37)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cache", default=os.path.join(os.path.dirname(__file__), "cache"))
    p.add_argument("--out", default=None, help="JSON-lines file to append to")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # The autoencoder exactly as run.py builds it (its cache key reads these).
    args.pretrain_epochs = args.pretrain_lr = args.pretrain_optimizer = "auto"
    args.mixed_precision, args.device, args.verbose = "auto", "cpu", 0
    X, y = load(args.dataset, args.data_home)
    if args.n:
        X, y = X[:args.n], y[:args.n]
    Xt = torch.as_tensor(X)
    for seed in args.seeds:
        ae = pretrained(X, seed, args)["ae"]
        record = {"dataset": args.dataset, "seed": seed, **({"n": len(X)} if args.n else {})}
        start = time.perf_counter()
        est = VaDEClusterer(n_clusters=len(set(y)), autoencoder=ae, random_state=seed,
                            max_epochs=args.max_epochs,
                            callbacks=[EpochScores(Xt, y, record, args.out)]).fit(X)
        print({**record, "n_iter": int(est.n_iter_), "final": scores(y, est.labels_),
               "wall_s": time.perf_counter() - start}, flush=True)


if __name__ == "__main__":
    main()

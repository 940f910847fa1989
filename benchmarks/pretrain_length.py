"""How long to pretrain: clustering read-outs from snapshots of one pretraining run.

For each seed, one ``AutoEncoder(random_state=seed, max_epochs=max(--epochs), **params)``
is fitted, with a callback that copies its weights after each epoch listed in
``--epochs``. The optimizers have no schedule, so the snapshot after ``e`` epochs is the
autoencoder that ``max_epochs=e`` would have given, and one run scores every length.
From each snapshot:

- ``aekm``: ``KMeans(n_clusters=k, n_init=20)`` on its embedding (accuracy);
- ``dec``: ``DECClusterer(n_clusters=k, autoencoder=snapshot)`` with its defaults;
- ``idec`` (with ``--idec``): the same with ``gamma=0.1``.

One JSON line per (seed, epoch) is appended to ``--out``; ``--summarize FILE`` prints
the mean per dataset, size and epoch as a markdown table.

Examples::

    OMP_NUM_THREADS=1 python benchmarks/pretrain_length.py --dataset digits --seeds 0 1 \\
        --epochs 50 100 150 --idec --out /tmp/length.jsonl
    OMP_NUM_THREADS=1 python benchmarks/pretrain_length.py --dataset mnist --n 10000 \\
        --data-home ../shared/data --seeds 0 --epochs 50 100 --out /tmp/length.jsonl
    python benchmarks/pretrain_length.py --summarize /tmp/length.jsonl
"""

import argparse
import copy
import json
import os
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from skorch.callbacks import Callback
from sklearn.cluster import KMeans

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import DATASETS, load, parse_param, scores  # noqa: E402

from skdeepcluster import AutoEncoder, DECClusterer  # noqa: E402


#: The snapshots of the current run: epoch -> state dict. Module-level because the fit
#: works on a deep copy of its callbacks (an attribute of the callback would be copied).
SNAPSHOTS = {}


class Snapshots(Callback):
    """Copies the module's weights into :data:`SNAPSHOTS` after the epochs in
    ``epochs``."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) in self.epochs:
            SNAPSHOTS[len(net.history)] = copy.deepcopy(net.module_.state_dict())


def summarize(path):
    rows = defaultdict(list)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            rows[(r["dataset"], r["n"], r.get("tag", ""), r["epoch"])].append(r)
    cols = ["aekm", "dec", "idec"]
    print("| dataset | n | config | epochs | seeds | AE + k-means | DEC | IDEC | DEC per seed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (dataset, n, tag, epoch), rs in sorted(rows.items()):
        means = []
        for c in cols:
            vals = [r[c] for r in rs if c in r]
            means.append(f"{np.mean(vals):.3f}" if vals else "–")
        per_seed = " / ".join(f"{r['dec']:.3f}" for r in sorted(rs, key=lambda r: r["seed"]))
        print(f"| {dataset} | {n} | {tag or 'defaults'} | {epoch} | {len(rs)} | "
              + " | ".join(means) + f" | {per_seed} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=DATASETS, default="digits")
    p.add_argument("--data-home", default=None)
    p.add_argument("--n", type=int, default=None, help="use the first N rows only")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, nargs="+", default=[50, 100])
    p.add_argument("--idec", action="store_true")
    p.add_argument("--param", action="append", default=[],
                   help="NAME=VALUE for AutoEncoder (VALUE read as a Python literal if it is one)")
    p.add_argument("--tag", default="", help="config name recorded in each line")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON-lines file to append to")
    p.add_argument("--summarize", default=None, metavar="FILE")
    args = p.parse_args(argv)
    if args.summarize:
        return summarize(args.summarize)
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y = load(args.dataset, args.data_home)
    if args.n:
        X, y = X[:args.n], y[:args.n]
    k = len(np.unique(y))
    params = dict(parse_param(kv) for kv in args.param)
    for seed in args.seeds:
        SNAPSHOTS.clear()
        ae = AutoEncoder(max_epochs=max(args.epochs), random_state=seed,
                         callbacks=[("snapshots", Snapshots(args.epochs))], **params)
        t = time.perf_counter()
        ae.fit(X)
        pretrain_s = time.perf_counter() - t
        ae.set_params(callbacks=None)
        for epoch in sorted(SNAPSHOTS):
            snap = copy.deepcopy(ae)
            snap.module_.load_state_dict(SNAPSHOTS[epoch])
            labels = KMeans(k, n_init=20, random_state=seed).fit_predict(snap.transform(X))
            row = {"dataset": args.dataset, "n": len(X), "seed": seed, "tag": args.tag,
                   "params": params, "epoch": epoch, "pretrain_s": round(pretrain_s, 1),
                   "aekm": scores(y, labels)["acc"]}
            dec = DECClusterer(n_clusters=k, autoencoder=snap, random_state=seed).fit(X)
            row["dec"] = scores(y, dec.labels_)["acc"]
            if args.idec:
                idec = DECClusterer(n_clusters=k, gamma=0.1, autoencoder=snap,
                                    random_state=seed).fit(X)
                row["idec"] = scores(y, idec.labels_)["acc"]
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

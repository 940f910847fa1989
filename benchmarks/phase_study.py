"""Screen clustering-phase settings on top of one pretrained autoencoder per seed.

For each seed an :class:`~skdeepcluster.AutoEncoder` is fitted once with ``--ae``
parameters (JSON; default: its defaults, as every clusterer pretrains by itself), k-means
(``n_init=20``) on its embedding gives the start's accuracy (also on the embedding
standardised per dimension, ``_std``, and scaled to unit norm per row, ``_l2``), and
every ``--config`` (a method and JSON constructor parameters) is fitted on top of it
with ``autoencoder=ae``.
One JSON line per (seed, config) is appended to ``--out``. ``--adam-weight-decay`` is a
probe, not a package option: it patches the pretraining optimizers' weight decay.
``--trajectory`` records, after every epoch of the clustering phase, the accuracy of its
current labels (DEC/IDEC: ``argmax q``; DCN: the assignments), the fraction of labels
that changed and the epoch's seconds, as ``trajectory``: ``[[epoch, acc, change, s],
...]`` (what a shorter ``max_epochs`` would have given, before the final assignment).

Example::

    python benchmarks/phase_study.py --dataset digits --seeds 0 1 2 \\
        --config dec '{}' --config dcn '{"lam": 0.005}' --out /tmp/phase.jsonl
    python benchmarks/phase_study.py --summarize /tmp/phase.jsonl   # markdown table
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from skorch.callbacks import Callback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import DATASETS, load, mean_std, scores  # noqa: E402

import skdeepcluster._training as training  # noqa: E402
from skdeepcluster import (  # noqa: E402
    AutoEncoder,
    DCNClusterer,
    DECClusterer,
    VaDEClusterer,
)

METHODS = {"dec": DECClusterer, "idec": DECClusterer, "dcn": DCNClusterer,
           "vade": VaDEClusterer}


class Trajectory(Callback):
    """Per epoch of a clustering phase: ``[epoch, ACC of its labels, change, seconds]``."""

    def __init__(self, y):
        self.y = y

    def initialize(self):
        self.rows = []
        return self

    def on_epoch_end(self, net, **kwargs):
        phase = net._run.phase  # the package's private training state: a probe
        labels = getattr(phase, "labels", None)
        if labels is None:
            labels = getattr(phase, "assignments", None)
        if labels is None:
            return
        record = net.history[-1]
        self.rows.append([len(net.history),
                          round(scores(self.y, labels.cpu().numpy())["acc"], 4),
                          record.get("delta_label"), round(record["dur"], 2)])


def summarize(path):
    """Markdown table of a JSON-lines file: per dataset, recipe and method, the mean ±
    std over seeds of the start (k-means on the embedding, three read-outs) and of the
    method's accuracy."""
    groups = {}
    for line in open(path):
        r = json.loads(line)
        key = (r["dataset"], r["name"], r["method"], json.dumps(r["params"]))
        groups.setdefault(key, []).append(r)
    rows = ["| dataset | recipe | method | params | seeds | AE+KM | AE+KM std | AE+KM l2 "
            "| ACC | min ACC |", "| --- " * 10 + "|"]
    for (dataset, name, method, params), rs in groups.items():
        starts = [mean_std([r.get(f"ae_kmeans_acc{x}") for r in rs], ".3f")
                  if all(f"ae_kmeans_acc{x}" in r for r in rs) else "–"
                  for x in ("", "_std", "_l2")]
        accs = [r["acc"] for r in rs]
        rows.append(f"| {dataset} | {name} | {method} | {params} | "
                    f"{','.join(str(r['seed']) for r in rs)} | {' | '.join(starts)} | "
                    f"{mean_std(accs, '.3f')} | {min(accs):.3f} |")
    return "\n".join(rows) + "\n"


def main(argv=None):
    if argv is None and sys.argv[1:2] == ["--summarize"]:
        print(summarize(sys.argv[2]), end="")
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=DATASETS, default="digits")
    p.add_argument("--data-home")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--ae", default="{}", help="AutoEncoder parameters (JSON)")
    p.add_argument("--adam-weight-decay", type=float, default=0.0)
    p.add_argument("--name", default="", help="a label for this recipe in the output")
    p.add_argument("--config", nargs=2, action="append", default=[],
                   metavar=("METHOD", "JSON"), help="repeatable")
    p.add_argument("--trajectory", action="store_true",
                   help="record the accuracy after every epoch of the clustering phase")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True, help="JSON-lines file to append to")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.adam_weight_decay:
        for name in ("adam", "sgd"):
            cls, kwargs = training.OPTIMIZERS[name]
            training.OPTIMIZERS[name] = (cls, {**kwargs,
                                               "weight_decay": args.adam_weight_decay})
    ae_params = json.loads(args.ae)
    if isinstance(ae_params.get("hidden_dims"), list):
        ae_params["hidden_dims"] = tuple(ae_params["hidden_dims"])
    X, y = load(args.dataset, args.data_home)
    k = len(np.unique(y))
    for seed in args.seeds:
        start = time.perf_counter()
        ae = AutoEncoder(random_state=seed, **ae_params).fit(X)
        ae_fit = time.perf_counter() - start
        Z = ae.transform(X)
        readouts = {}
        for name, Zr in (("", Z), ("_std", (Z - Z.mean(0)) / Z.std(0)),
                         ("_l2", Z / np.linalg.norm(Z, axis=1, keepdims=True))):
            labels = KMeans(n_clusters=k, n_init=20, random_state=seed).fit_predict(Zr)
            readouts[f"ae_kmeans_acc{name}"] = round(scores(y, labels)["acc"], 4)
        base = dict(dataset=args.dataset, name=args.name, seed=seed, ae=ae_params,
                    weight_decay=args.adam_weight_decay, ae_fit=round(ae_fit, 1),
                    **readouts)
        for method, params in args.config:
            params = json.loads(params)
            if method == "idec":
                params = {"gamma": 0.1, **params}
            trajectory = [Trajectory(y)] if args.trajectory else []
            start = time.perf_counter()
            est = METHODS[method](n_clusters=k, autoencoder=ae, random_state=seed,
                                  callbacks=trajectory or None, **params).fit(X)
            rec = dict(base, method=method, params=params,
                       acc=round(scores(y, est.labels_)["acc"], 4), n_iter=est.n_iter_,
                       fit=round(time.perf_counter() - start, 1))
            if trajectory:  # the fitted net's own instance (the net may copy it)
                rec["trajectory"] = next(cb.rows for _, cb in est.net_.callbacks_
                                         if isinstance(cb, Trajectory))
            print(json.dumps(rec), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()

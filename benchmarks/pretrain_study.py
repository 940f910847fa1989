"""Pretraining study: k-means on the embedding of autoencoders trained with different recipes.

Each ``--config NAME PARAM=VALUE ...`` is a set of :class:`skdeepcluster.AutoEncoder`
parameters (the rest are the estimator's defaults). Every config is fitted on the dataset
once per seed; KMeans (``n_init=20``, the clusterers' initial clustering) on its embedding
is scored by ACC/NMI/ARI; with ``--dec``, DEC (``DECClusterer`` defaults otherwise) also
runs from each autoencoder, with the autoencoder's batch size. One JSON line per run is
appended to ``--out``.jsonl, and a markdown table (mean ± std over seeds, per dataset and
config) of every run in that file is written to ``--out``.md, so several invocations
(datasets, configs) build one table. Text of an existing ``--out``.md before the table
and after a ``<!-- notes -->`` line is kept.

Examples
--------
::

    python benchmarks/pretrain_study.py --dataset digits --seeds 0 1 2 \\
        --config mse_sgd loss='squared_error' optimizer='sgd' \\
        --config bce_sgd loss='binary_cross_entropy' optimizer='sgd' \\
        --out benchmarks/results/pretrain_study
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from sklearn.cluster import KMeans

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import DATASETS, load, mean_std, parse_param, scores  # noqa: E402

from skdeepcluster import AutoEncoder, DECClusterer  # noqa: E402


_NOTES = "<!-- notes -->"


def table(records):
    rows = ["| dataset | config | params | seeds | AE+KMeans ACC | min ACC | NMI | fit (s) "
            "| DEC ACC |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups = {}
    for r in records:
        groups.setdefault((r["dataset"], r["config"]), []).append(r)

    ms = mean_std
    for (dataset, config), rs in groups.items():
        params = " ".join(f"{k}={v}" for k, v in rs[0]["params"].items())
        rows.append(
            f"| {dataset} | {config} | {params} | {len(rs)} | "
            f"{ms([r['acc'] for r in rs], '.3f')} | {min(r['acc'] for r in rs):.3f} | "
            f"{ms([r['nmi'] for r in rs], '.3f')} | {ms([r['fit_s'] for r in rs], '.0f')} | "
            f"{ms(dec, '.3f') if (dec := [r['dec_acc'] for r in rs if 'dec_acc' in r]) else '–'}"
            " |")
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--data-home", default=None)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--config", nargs="+", action="append", required=True,
                   metavar="NAME [PARAM=VALUE ...]")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--dec", action="store_true", help="also run DEC from each autoencoder")
    p.add_argument("--out", required=True, help="path prefix for .jsonl and .md")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y = load(args.dataset, args.data_home)
    k = len(np.unique(y))
    for name, *params in args.config:
        params = dict(parse_param(kv) for kv in params)
        for seed in args.seeds:
            ae = AutoEncoder(random_state=seed, **params)
            t = time.perf_counter()
            ae.fit(X)
            fit_s = time.perf_counter() - t
            labels = KMeans(n_clusters=k, n_init=20, random_state=seed).fit_predict(
                ae.transform(X))
            record = {"dataset": args.dataset, "config": name, "params": params,
                      "seed": seed, "fit_s": fit_s, "epochs": ae.n_iter_,
                      "threads": torch.get_num_threads(), **scores(y, labels)}
            if args.dec:
                dec = DECClusterer(n_clusters=k, autoencoder=ae, batch_size=ae.batch_size,
                                   random_state=seed).fit(X)
                record["dec_acc"] = scores(y, dec.labels_)["acc"]
            print(json.dumps(record), flush=True)
            with open(args.out + ".jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
    with open(args.out + ".jsonl") as f:
        records = [json.loads(line) for line in f if line.strip()]
    head, notes = ("Autoencoder + KMeans (n_init=20) by pretraining recipe.\n\n", "")
    if os.path.exists(args.out + ".md"):
        with open(args.out + ".md") as f:
            old = f.read()
        head = old[:old.index("| dataset |")] if "| dataset |" in old else head
        notes = old[old.index(_NOTES):] if _NOTES in old else ""
    with open(args.out + ".md", "w") as f:
        f.write(head + table(records) + "\n\n" + notes)


if __name__ == "__main__":
    main()

"""Every estimator with its defaults: what ``Estimator(n_clusters=k, random_state=s)`` gives.

Each deep estimator is built with nothing but ``n_clusters`` (the number of classes) and
``random_state`` and pretrains by itself, exactly as a user's one-liner does; KMeans
(``n_init=20``) on the raw features is the reference. ``ae_kmeans`` is the autoencoder
that DEC, IDEC and DCN start from, + k-means: ``DECClusterer`` with ``max_epochs=0``
(its labels are then those of its initial k-means on the pretrained embedding). IDEC is
``DECClusterer(gamma=0.1)``; DeepCluster too gets nothing else (its ``image_shape="auto"``
picks the conv backbone for the square images in [0, 1] of digits, USPS and MNIST). Data as in ``run.py``: pixels scaled to [0, 1], float32; ``*_std``,
``wine`` and ``breast_cancer`` standardised per feature.

For MNIST, ``--out-of-sample`` also fits on the 60,000 training images and scores
``predict`` on the 10,000 test images.

Writes ``--out``.json (every run) and ``--out``.md (mean ± std over seeds of ACC, NMI,
ARI and whole-fit wall time).

Examples
--------
::

    python benchmarks/defaults.py --dataset digits --seeds 0 1 2 \\
        --out benchmarks/results/defaults_digits
    python benchmarks/defaults.py --dataset mnist --data-home ../shared/data \\
        --methods kmeans ae_kmeans dec --seeds 0 --out-of-sample \\
        --out benchmarks/results/defaults_mnist
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
from run import (  # noqa: E402
    DATASETS,
    load,
    mean_std,
    run_meta,
    scores,
    write_results,
)

import skdeepcluster  # noqa: E402
from skdeepcluster.metrics import clustering_accuracy_score  # noqa: E402

#: name -> factory(n_clusters, seed, dataset) of an estimator with its defaults.
METHODS = {
    "kmeans": lambda k, seed, ds: KMeans(n_clusters=k, n_init=20, random_state=seed),
    "ae_kmeans": lambda k, seed, ds: skdeepcluster.DECClusterer(
        n_clusters=k, max_epochs=0, random_state=seed),
    "dec": lambda k, seed, ds: skdeepcluster.DECClusterer(n_clusters=k, random_state=seed),
    "idec": lambda k, seed, ds: skdeepcluster.DECClusterer(
        n_clusters=k, gamma=0.1, random_state=seed),
    "dcn": lambda k, seed, ds: skdeepcluster.DCNClusterer(n_clusters=k, random_state=seed),
    "vade": lambda k, seed, ds: skdeepcluster.VaDEClusterer(n_clusters=k, random_state=seed),
    "deepcluster": lambda k, seed, ds: skdeepcluster.DeepClusterClusterer(
        n_clusters=k, random_state=seed),
}


def table(records):
    rows = ["| method | seeds | ACC | min ACC | NMI | ARI | fit (s) | test ACC |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]

    ms = mean_std
    for m in dict.fromkeys(r["method"] for r in records):
        rs = [r for r in records if r["method"] == m]
        test = [r["test_acc"] for r in rs if r.get("test_acc") is not None]
        rows.append(
            f"| {m} | {len(rs)} | {ms([r['acc'] for r in rs], '.3f')} | "
            f"{min(r['acc'] for r in rs):.3f} | {ms([r['nmi'] for r in rs], '.3f')} | "
            f"{ms([r['ari'] for r in rs], '.3f')} | {ms([r['fit_s'] for r in rs], '.0f')} | "
            f"{ms(test, '.3f') if test else '–'} |")
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--data-home", default=None)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out-of-sample", action="store_true",
                   help="MNIST: also fit on the training split and score predict on the "
                        "test split")
    p.add_argument("--out", default=None, help="path prefix for .json and .md")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y = load(args.dataset, args.data_home)
    k = len(np.unique(y))
    records = []
    for name in args.methods:
        for seed in args.seeds:
            est = METHODS[name](k, seed, args.dataset)
            start = time.perf_counter()
            est.fit(X)
            record = {"method": name, "seed": seed, "fit_s": time.perf_counter() - start,
                      **scores(y, est.labels_)}
            if args.out_of_sample and args.dataset == "mnist":
                est = METHODS[name](k, seed, args.dataset).fit(X[:60000])
                record["test_acc"] = clustering_accuracy_score(
                    y[60000:], est.predict(X[60000:]))
            records.append(record)
            print(json.dumps(record), flush=True)
    meta = {**run_meta(args.dataset, X), "skdeepcluster": skdeepcluster.__version__}
    md = (f"{args.dataset} ({X.shape[0]} x {X.shape[1]}), defaults only, seeds "
          f"{args.seeds}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU flags: {meta['cpu_flags']}\n\n`{meta['command']}`\n\n{table(records)}\n")
    print(md)
    if args.out:
        write_results(args.out, meta, records, md)


if __name__ == "__main__":
    main()

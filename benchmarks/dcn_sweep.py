"""Small sweep of DCN's clustering-phase hyper-parameters on a 10,000-sample MNIST subset.

One autoencoder is pretrained once and pickled; every DCN run starts from it
(``autoencoder=<fitted AutoEncoder>`` is reused without refitting), so the runs differ
only in the clustering phase. Single-threaded on purpose (shared 2-core machine).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/dcn_sweep.py pretrain
    OMP_NUM_THREADS=1 python benchmarks/dcn_sweep.py run --lam 0.05 --lr 1e-3 --optimizer adam
    python benchmarks/dcn_sweep.py table > benchmarks/results/dcn_sweep.md

Each ``run`` appends one JSON line to ``--log``. Scores: ACC (Hungarian), NMI
(``average_method="arithmetic"``), ARI on the 10,000 training points.
"""

import argparse
import json
import os
import pickle
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from skdeepcluster import AutoEncoder  # noqa: E402
from skdeepcluster._kmeans import kmeans  # noqa: E402
from skdeepcluster.datasets import load_mnist  # noqa: E402
from skdeepcluster.metrics import clustering_accuracy_score  # noqa: E402

torch.set_num_threads(1)

SCRATCH = "/work/scratch/dcn"
N_SAMPLES = 10_000


def load_subset(data_home):
    X, y = load_mnist(data_home=data_home, return_X_y=True)
    idx = np.random.RandomState(0).permutation(len(X))[:N_SAMPLES]
    return (X[idx].astype(np.float32) / 255.0), y[idx]


def scores(y, labels):
    return {
        "acc": round(float(clustering_accuracy_score(y, labels)), 4),
        "nmi": round(float(normalized_mutual_info_score(y, labels)), 4),
        "ari": round(float(adjusted_rand_score(y, labels)), 4),
    }


def pretrain(args):
    X, y = load_subset(args.data_home)
    t0 = time.perf_counter()
    ae = AutoEncoder(max_epochs=args.epochs, optimizer=args.ae_optimizer, lr=args.ae_lr,
                     mixed_precision=True, device="cpu", random_state=0, verbose=1).fit(X)
    dur = time.perf_counter() - t0
    with open(args.ae, "wb") as f:
        pickle.dump(ae, f)
    _, labels, _ = kmeans(ae.transform(X), 10, n_init=20, seed=0)
    print(json.dumps({"stage": "AE+KMeans", "pretrain_epochs": args.epochs,
                      "optimizer": args.ae_optimizer, "lr": args.ae_lr,
                      "fit_s": round(dur, 1), **scores(y, labels)}))


def run(args):
    from skdeepcluster import DCNClusterer

    X, y = load_subset(args.data_home)
    with open(args.ae, "rb") as f:
        ae = pickle.load(f)
    _, labels0, _ = kmeans(ae.transform(X), 10, n_init=20, seed=args.seed)
    params = dict(n_clusters=10, lam=args.lam, lr=args.lr, optimizer=args.optimizer,
                  max_epochs=args.epochs, initial_count=args.initial_count,
                  kmeans_interval=args.kmeans_interval, tol=0.0, autoencoder=ae,
                  mixed_precision=args.bf16, device="cpu", random_state=args.seed)
    t0 = time.perf_counter()
    try:
        dcn = DCNClusterer(**params).fit(X)
    except FloatingPointError as exc:
        rec = {"lam": args.lam, "lr": args.lr, "optimizer": args.optimizer,
               "epochs": args.epochs, "seed": args.seed, "diverged": str(exc)[:80]}
        print(json.dumps(rec))
        with open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return
    dur = time.perf_counter() - t0
    Z = dcn.transform(X)
    _, fresh, _ = kmeans(Z, 10, n_init=20, seed=args.seed)
    online = dcn.net_.history[-1].get("delta_label")
    rec = {
        "lam": args.lam, "lr": args.lr, "optimizer": args.optimizer, "epochs": args.epochs,
        "initial_count": args.initial_count, "kmeans_interval": args.kmeans_interval,
        "bf16": args.bf16, "seed": args.seed, "fit_s": round(dur, 1),
        "ae_kmeans": scores(y, labels0),
        "dcn": scores(y, dcn.labels_),
        "dcn_fresh_kmeans": scores(y, fresh),
        "final_delta_label": online,
        "score": round(float(dcn.score(X)), 5),
    }
    print(json.dumps(rec))
    with open(args.log, "a") as f:
        f.write(json.dumps(rec) + "\n")


def table(args):
    rows = [json.loads(line) for line in open(args.log)]
    print("| optimizer | lr | lam | epochs | k-means every | seed | AE+KM ACC | AE+KM NMI "
          "| DCN ACC | DCN NMI | DCN ARI | fit (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        head = (f"| {r['optimizer']} | {r['lr']:g} | {r['lam']:g} | {r['epochs']} "
                f"| {r.get('kmeans_interval') or '-'} | {r['seed']} ")
        if "diverged" in r:
            print(head + "| | | diverged | | | |")
            continue
        print(head + f"| {r['ae_kmeans']['acc']:.3f} | {r['ae_kmeans']['nmi']:.3f} "
              f"| {r['dcn']['acc']:.3f} | {r['dcn']['nmi']:.3f} | {r['dcn']['ari']:.3f} "
              f"| {r['fit_s']:.0f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=["pretrain", "run", "table"])
    p.add_argument("--data-home", default="/work/shared/data")
    p.add_argument("--ae", default=os.path.join(SCRATCH, "ae.pkl"))
    p.add_argument("--log", default=os.path.join(SCRATCH, "sweep.jsonl"),
                   help="JSON lines, one per run (results/dcn_sweep.jsonl is a copy)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--ae-optimizer", default="sgd", help="pretraining optimizer")
    p.add_argument("--ae-lr", type=float, default=1.0, help="pretraining learning rate")
    p.add_argument("--lam", type=float, default=0.05)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--initial-count", type=int, default=100)
    p.add_argument("--kmeans-interval", type=int, default=None)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.epochs is None:
        args.epochs = 30 if args.stage == "pretrain" else 20
    os.makedirs(SCRATCH, exist_ok=True)
    {"pretrain": pretrain, "run": run, "table": table}[args.stage](args)


if __name__ == "__main__":
    main()

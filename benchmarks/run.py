"""Benchmark skdeepcluster's estimators on a dataset over several seeds.

Writes a JSON file with every run and a markdown table (mean ± std over seeds) of
clustering accuracy (Hungarian), NMI (arithmetic), ARI, fit wall time and peak memory.

Per seed, one AutoEncoder is pretrained and every deep method starts from it (a fair
comparison, and the pretraining is paid once): a method's reported ``fit_s`` is the
pretraining time plus its own clustering phase; ``cluster_s`` is the latter alone. The
autoencoder has ``AutoEncoder``'s default loss (binary cross-entropy for data in [0, 1],
else squared error), as the estimators pretrain by themselves; ``ae_mse_kmeans`` and
``ae_bce_kmeans`` are k-means on autoencoders pretrained with one loss or the other.
With ``--mixed-precision auto`` (the default) the CPU flags recorded with the results
say whether bfloat16 was used.
Pretrained autoencoders are cached in ``--cache`` (not committed) so that adding a method
later reuses them.

Examples
--------
MNIST-70k, float32 /255, 3 seeds, on this machine's 2 cores::

    python benchmarks/run.py --dataset mnist --data-home ../shared/data \
        --methods kmeans ae_kmeans dec idec --seeds 0 1 2 --out benchmarks/results/mnist

The data is found through ``skdeepcluster.datasets`` (``--data-home`` or the
``SKDEEPCLUSTER_DATA`` environment variable).
"""

import argparse
import ast
import hashlib
import json
import os
import pickle
import platform
import statistics
import sys
import threading
import time
from datetime import datetime, timezone

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from skdeepcluster import AutoEncoder, DECClusterer
from skdeepcluster._pretraining import INITS
from skdeepcluster.datasets import load_mnist, load_usps
from skdeepcluster.metrics import clustering_accuracy_score


def load(name, data_home):
    if name == "mnist":
        X, y = load_mnist(data_home=data_home, return_X_y=True)
        return X.astype(np.float32) / 255.0, y
    if name == "usps":
        X, y = load_usps(data_home=data_home, return_X_y=True)
        return X.astype(np.float32), y
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return (X / 16.0).astype(np.float32), y
    if name in STANDARDISED or name in ("wine", "breast_cancer"):
        from sklearn import datasets
        from sklearn.preprocessing import StandardScaler

        if name in STANDARDISED:
            X, y = load(STANDARDISED[name], data_home)
        else:
            X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        return StandardScaler().fit_transform(X).astype(np.float32), y
    raise ValueError(f"unknown dataset {name!r}")


#: Datasets standardised per feature (the non-[0, 1] branch of the "auto" settings).
STANDARDISED = {"usps_std": "usps", "mnist_std": "mnist"}

#: Every dataset ``load`` knows: images scaled to [0, 1], then standardised data
#: (``*_std``, scikit-learn's wine and breast cancer).
DATASETS = ["mnist", "usps", "digits", *STANDARDISED, "wine", "breast_cancer"]


def cpu_flags():
    """The CPU's matrix/vector features that decide float32 vs bfloat16 speed (Linux)."""
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return platform.processor() or "unknown"
    return " ".join(flag for flag in wanted if flag in flags) or "none of " + " ".join(wanted)


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled, in MiB)."""

    def __enter__(self):
        self.peak, self._stop = self._rss(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    def _poll(self):
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def scores(y, labels):
    return {
        "acc": clustering_accuracy_score(y, labels),
        "nmi": normalized_mutual_info_score(y, labels, average_method="arithmetic"),
        "ari": adjusted_rand_score(y, labels),
    }


#: Deep methods: name -> factory(n_clusters, autoencoder, seed, args) of an estimator.
DEEP_METHODS = {
    # The initial clustering DEC, IDEC, DCN and VaDE start from (``init``): DEC with no
    # clustering epoch.
    "ae_init": lambda k, ae, seed, a: DECClusterer(
        n_clusters=k, max_epochs=0, init=a.init, autoencoder=ae,
        mixed_precision=a.mixed_precision, device=a.device, random_state=seed,
        verbose=a.verbose),
    "dec": lambda k, ae, seed, a: DECClusterer(
        n_clusters=k, init=a.init, autoencoder=ae, mixed_precision=a.mixed_precision,
        augment_clustering=a.augment_clustering, device=a.device, random_state=seed,
        verbose=a.verbose),
    "idec": lambda k, ae, seed, a: DECClusterer(
        n_clusters=k, gamma=0.1, init=a.init, autoencoder=ae,
        mixed_precision=a.mixed_precision, augment_clustering=a.augment_clustering,
        device=a.device, random_state=seed, verbose=a.verbose),
}


#: Methods trained from scratch (no autoencoder): name -> factory(n_clusters, seed, args).
SCRATCH_METHODS = {}

#: Image shape (C, H, W) of each dataset's rows, for methods with a conv backbone.
IMAGE_SHAPES = {"mnist": (1, 28, 28), "usps": (1, 16, 16), "digits": (1, 8, 8)}


def register_optional_methods():
    """Methods of estimators that may not exist yet in this version of the package."""
    import skdeepcluster

    if hasattr(skdeepcluster, "DCNClusterer"):
        DEEP_METHODS["dcn"] = lambda k, ae, seed, a: skdeepcluster.DCNClusterer(
            n_clusters=k, init=a.init, autoencoder=ae, mixed_precision=a.mixed_precision,
            device=a.device, random_state=seed, verbose=a.verbose)
    if hasattr(skdeepcluster, "VaDEClusterer"):
        DEEP_METHODS["vade"] = lambda k, ae, seed, a: skdeepcluster.VaDEClusterer(
            n_clusters=k, init=a.init, autoencoder=ae, mixed_precision=a.mixed_precision,
            device=a.device, random_state=seed, verbose=a.verbose)
    if hasattr(skdeepcluster, "DeepClusterClusterer"):
        SCRATCH_METHODS["deepcluster"] = lambda k, seed, a: (
            skdeepcluster.DeepClusterClusterer(
                n_clusters=k, image_shape=IMAGE_SHAPES.get(a.dataset),
                mixed_precision=a.mixed_precision, device=a.device, random_state=seed,
                verbose=a.verbose, **a.params))


#: Pretraining loss of each method that starts from an autoencoder (default: "auto", the
#: estimators' own choice: binary cross-entropy for data in [0, 1], else squared error).
PRETRAINING_LOSS = {"ae_mse_kmeans": "squared_error", "ae_bce_kmeans": "binary_cross_entropy"}

#: KMeans on a pretrained autoencoder's embedding (default / squared-error / cross-entropy
#: pretraining).
AE_KMEANS_METHODS = ("ae_kmeans", "ae_mse_kmeans", "ae_bce_kmeans")


def auto_on_off(value):
    """``--mixed-precision`` and ``--augment-clustering``: "auto", or on/off as a bool."""
    return {"on": True, "off": False}.get(value, value)


def epochs_arg(value):
    """``--pretrain-epochs``: an int or "auto"."""
    return value if value == "auto" else int(value)


def pretrained(X, seed, args, loss="auto"):
    """The seed's pretrained AutoEncoder and its cost, from the cache when present."""
    ae = AutoEncoder(max_epochs=args.pretrain_epochs, lr=args.pretrain_lr, loss=loss,
                     optimizer=args.pretrain_optimizer, batch_size=256,
                     mixed_precision=args.mixed_precision, device=args.device,
                     random_state=seed, verbose=args.verbose)
    # The default loss is left out of the key: caches made before AutoEncoder had a
    # ``loss`` parameter stay valid.
    key = "_".join(f"{k}={v}" for k, v in sorted(ae.get_params().items())
                   if k not in ("verbose", "callbacks")
                   and not (k == "loss" and v == "squared_error"))
    digest = hashlib.sha1(f"{args.dataset}|{key}".encode()).hexdigest()[:16]
    path = os.path.join(args.cache, f"{args.dataset}_{digest}.pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    ae, wall, cpu, mib = timed(lambda: ae.fit(X))
    result = {"ae": ae, "wall": wall, "cpu": cpu, "mib": mib}
    os.makedirs(args.cache, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(result, f)
    return result


def timed(fn):
    """Run ``fn()``; return its result, wall seconds, process CPU seconds, peak RSS (MiB).

    CPU seconds count every thread of this process: on a shared machine they are a
    measure of work that other processes do not inflate.
    """
    with PeakRSS() as mem:
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return out, wall, cpu, mem.peak


def run_method(name, X, y, seed, args):
    """One method on one seed: a result record."""
    k = len(np.unique(y))
    if name == "kmeans":
        labels, wall, cpu, mib = timed(
            lambda: KMeans(n_clusters=k, n_init=20, random_state=seed).fit_predict(X))
        return {"method": name, "seed": seed, "fit_s": wall, "cpu_s": cpu, "peak_mib": mib,
                **scores(y, labels)}
    if name in SCRATCH_METHODS:
        est, wall, cpu, mib = timed(lambda: SCRATCH_METHODS[name](k, seed, args).fit(X))
        return {"method": name, "seed": seed, "fit_s": wall, "cpu_s": cpu,
                "peak_mib": mib, "n_iter": int(est.n_iter_), "epoch_s": epoch_s(est),
                **scores(y, est.labels_)}
    pre = pretrained(X, seed, args, PRETRAINING_LOSS.get(name, "auto"))
    ae = pre["ae"]
    extra = {}
    if name in AE_KMEANS_METHODS:
        labels, wall, cpu, mib = timed(
            lambda: KMeans(n_clusters=k, n_init=20, random_state=seed).fit_predict(
                ae.transform(X)))
        n_iter = ae.n_iter_
    else:
        est, wall, cpu, mib = timed(lambda: DEEP_METHODS[name](k, ae, seed, args).fit(X))
        labels, n_iter = est.labels_, int(est.n_iter_)
        extra["epoch_s"] = epoch_s(est)
    return {"method": name, "seed": seed, "pretrain_s": pre["wall"], "cluster_s": wall,
            "fit_s": pre["wall"] + wall, "cpu_s": pre["cpu"] + cpu,
            "peak_mib": max(pre["mib"], mib), "n_iter": n_iter, **extra, **scores(y, labels)}


def epoch_s(est):
    """Median wall seconds per training epoch, from the estimator's ``history_``."""
    durs = [r["dur"] for r in est.history_ if "dur" in r]
    return statistics.median(durs) if durs else None


def run_meta(dataset, X):
    """What a results file records of the run: data, command, date, software, machine."""
    return {
        "dataset": dataset, "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
        "dtype": str(X.dtype), "command": "python " + " ".join(sys.argv),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "cpu_flags": cpu_flags(),
    }


def mean_std(values, fmt):
    """``"mean ± std"`` of ``values`` (std 0 for a single value), each formatted by ``fmt``."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{format(statistics.mean(values), fmt)} ± {format(sd, fmt)}"


def write_results(out, meta, records, md):
    """``out``.json (``meta`` and every run) and ``out``.md (the table ``md``)."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".json", "w") as f:
        json.dump({"meta": meta, "runs": records}, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write(md)


def table(records):
    """Markdown table: mean ± std over seeds per method."""
    rows = ["| method | seeds | ACC | NMI | ARI | fit wall (s) | of which pretraining (s) "
            "| fit CPU (s) | s / epoch | peak RSS (MiB) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    order = list(dict.fromkeys(r["method"] for r in records))

    ms = mean_std
    for m in order:
        rs = [r for r in records if r["method"] == m]
        pre = ms([r["pretrain_s"] for r in rs], ".0f") if "pretrain_s" in rs[0] else "–"
        per_epoch = [r["epoch_s"] for r in rs if r.get("epoch_s") is not None]
        per_epoch = ms(per_epoch, ".1f") if per_epoch else "–"
        rows.append(
            f"| {m} | {len(rs)} | {ms([r['acc'] for r in rs], '.4f')} | "
            f"{ms([r['nmi'] for r in rs], '.4f')} | {ms([r['ari'] for r in rs], '.4f')} | "
            f"{ms([r['fit_s'] for r in rs], '.0f')} | {pre} | "
            f"{ms([r['cpu_s'] for r in rs], '.0f')} | {per_epoch} | "
            f"{max(r['peak_mib'] for r in rs):.0f} |")
    return "\n".join(rows)


def parse_param(text):
    """``"name=value"`` -> ``(name, value)`` with value read as a Python literal if it is one."""
    name, _, value = text.partition("=")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    return name, value


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=DATASETS)
    p.add_argument("--data-home", default=None)
    p.add_argument("--methods", nargs="+", default=["kmeans", "ae_kmeans", "dec", "idec"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--init", choices=list(INITS), default="auto",
                   help="the clusterers' init (how the pretrained embedding is first "
                        "clustered; default: 'auto', as the estimators)")
    p.add_argument("--pretrain-epochs", type=epochs_arg, default="auto",
                   help="AutoEncoder max_epochs: an int or 'auto' (the default, as the "
                        "estimators)")
    p.add_argument("--pretrain-lr", default="auto", type=lambda v: v if v == "auto" else float(v))
    p.add_argument("--pretrain-optimizer", default="auto")
    p.add_argument("--mixed-precision", default="auto", type=auto_on_off,
                   choices=["auto", True, False], metavar="{auto,on,off}",
                   help="the estimators' mixed_precision (default: auto, as they do)")
    p.add_argument("--augment-clustering", default="auto", type=auto_on_off,
                   choices=["auto", True, False], metavar="{auto,on,off}",
                   help="DEC's and IDEC's augment_clustering (default: auto, as they do)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--cache", default=os.path.join(os.path.dirname(__file__), "cache"))
    p.add_argument("--out", default=None, help="path prefix for .json and .md")
    p.add_argument("--param", dest="params", action="append", default=[],
                   metavar="NAME=VALUE",
                   help="extra constructor parameter of from-scratch methods "
                        "(e.g. n_pseudo_clusters=100); repeatable")
    p.add_argument("--sweep", default=None, metavar="NAME=V1,V2,...",
                   help="run each from-scratch method once per value of this "
                        "constructor parameter (e.g. n_pseudo_clusters=10,50,100)")
    args = p.parse_args(argv)
    args.params = dict(parse_param(kv) for kv in args.params)
    if args.threads:
        torch.set_num_threads(args.threads)
    register_optional_methods()
    known = ["kmeans", *AE_KMEANS_METHODS, *DEEP_METHODS, *SCRATCH_METHODS]
    unknown = set(args.methods) - set(known)
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}; known: {' '.join(known)}")
    if args.sweep:
        name, value = parse_param(args.sweep)
        args.sweep = (name, list(value) if isinstance(value, (tuple, list)) else [value])
        if set(args.methods) - set(SCRATCH_METHODS):
            p.error("--sweep applies to from-scratch methods only: "
                    f"{' '.join(SCRATCH_METHODS) or 'none'}")

    X, y = load(args.dataset, args.data_home)
    records = []
    sweep_name, sweep_values = args.sweep or (None, [None])
    fixed = dict(args.params)
    for name in args.methods:  # method-major: each seed's pretraining is cached
        for value in sweep_values:
            label = name
            if sweep_name is not None:
                args.params = {**fixed, sweep_name: value}
                label = f"{name} {sweep_name}={value}"
            for seed in args.seeds:
                records.append({**run_method(name, X, y, seed, args), "method": label})
                print(records[-1], flush=True)
    args.params = fixed
    meta = {**run_meta(args.dataset, X),
            "settings": {k: v for k, v in vars(args).items() if k not in ("out", "cache")}}
    md = (f"{args.dataset} ({X.shape[0]} x {X.shape[1]}, {X.dtype}), seeds {args.seeds}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU flags: {meta['cpu_flags']}\n\n"
          f"`{meta['command']}`\n\n{table(records)}\n")
    print(md)
    if args.out:
        write_results(args.out, meta, records, md)


if __name__ == "__main__":
    main()

"""k-means at scale: time and peak memory of each ``kmeans_backend``.

Random float32 data (standard normal) of ``n`` rows and ``d`` columns, clustered into
``k`` clusters by :func:`skdeepcluster._kmeans.cluster` (what the estimators call) with
``n_init=1``, a fixed small ``max_iter`` and random-row starts (DeepCluster's per-epoch
clustering; faiss always starts so). Each measurement runs in a fresh process, so that
its peak resident memory (``ru_maxrss``) is its own: the table gives the growth of the
peak over the resident memory just before the k-means (the data, torch and the backend
already loaded), and for CUDA the peak of torch's allocations beyond the data.
scikit-learn runs only where ``n * k`` is at most ``--sklearn-max-distances``; faiss only
when it is installed.

Full run (n in {100k, 1M}, k in {100, 10000}, d=64, 10 iterations; several minutes per
configuration with faiss and torch on a few cores, more with scikit-learn)::

    OMP_NUM_THREADS=<cores> python benchmarks/kmeans_scale.py \\
        --out benchmarks/results/kmeans_scale

Quick check (n=20,000, k=100; seconds)::

    python benchmarks/kmeans_scale.py --quick --out /tmp/kmeans_scale_quick

Add ``--device cuda`` to run the torch backend on a GPU.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MiB = 2**20


def _rss_bytes():
    """Current resident memory of this process (Linux), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _maxrss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def child(args):
    """One measurement, in this process; prints one JSON line."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from skdeepcluster._kmeans import cluster

    torch.set_num_threads(args.threads)
    if args.backend == "faiss":
        import faiss

        faiss.omp_set_num_threads(args.threads)
    X = np.random.default_rng(0).standard_normal((args.n, args.d), dtype=np.float32)
    device = torch.device(args.device if args.backend == "torch" else "cpu")
    Z = torch.from_numpy(X).to(device) if args.backend == "torch" else X
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base_gpu = torch.cuda.memory_allocated()
    rss_before = _rss_bytes()
    with threadpool_limits(args.threads):
        start = time.perf_counter()
        centers, labels, inertia = cluster(Z, args.k, backend=args.backend, n_init=1,
                                           seed=0, max_iter=args.max_iter, tol=0.0,
                                           init="random")
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    record = {
        "backend": args.backend, "device": str(device), "n": args.n, "k": args.k,
        "d": args.d, "max_iter": args.max_iter, "threads": args.threads,
        "seconds": round(seconds, 3),
        "data_mib": round(X.nbytes / MiB, 1),
        "peak_rss_growth_mib": round((_maxrss_bytes() - rss_before) / MiB, 1),
        "inertia_per_row": float(inertia) / args.n,
        "nonempty_clusters": int(len(np.unique(labels))),
    }
    if cuda:
        record["gpu_peak_beyond_data_mib"] = round(
            (torch.cuda.max_memory_allocated() - base_gpu) / MiB, 1)
    print(json.dumps(record))


def configs(args):
    if args.quick:
        return [(20_000, 100)]
    return [(n, k) for n in args.n for k in args.k]


def backends(n, k, args):
    import importlib.util

    names = ["torch"]
    if importlib.util.find_spec("faiss") is not None:
        names.append("faiss")
    if n * k <= args.sklearn_max_distances:
        names.append("sklearn")
    return [b for b in names if b in args.backends]


def table(records):
    rows = ["| n | k | d | backend | device | threads | time (s) | peak RSS growth (MiB) "
            "| data (MiB) | inertia / row |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in records:
        growth = r["peak_rss_growth_mib"]
        if "gpu_peak_beyond_data_mib" in r:
            growth = f"{growth} (GPU {r['gpu_peak_beyond_data_mib']})"
        rows.append(f"| {r['n']:,} | {r['k']:,} | {r['d']} | {r['backend']} | {r['device']} "
                    f"| {r['threads']} | {r['seconds']:.2f} | {growth} | {r['data_mib']} "
                    f"| {r['inertia_per_row']:.4f} |")
    return "\n".join(rows) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="results path without extension (.json and .md)")
    p.add_argument("--quick", action="store_true", help="n=20,000, k=100 only")
    p.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--k", type=int, nargs="+", default=[100, 10_000])
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--threads", type=int,
                   default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    p.add_argument("--device", default="cpu", help="device of the torch backend")
    p.add_argument("--backends", nargs="+", default=["torch", "faiss", "sklearn"])
    p.add_argument("--sklearn-max-distances", type=float, default=1e9,
                   help="run scikit-learn only where n * k is at most this")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.n, args.k = args.n[0], args.k[0]
        return child(args)
    if not args.out:
        p.error("--out is required")

    records = []
    for n, k in configs(args):
        for backend in backends(n, k, args):
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--backend", backend,
                   "--n", str(n), "--k", str(k), "--d", str(args.d),
                   "--max-iter", str(args.max_iter), "--threads", str(args.threads),
                   "--device", args.device]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            record = json.loads(out.strip().splitlines()[-1])
            print(json.dumps(record), flush=True)
            records.append(record)

    from run import run_meta, write_results

    import numpy as np

    meta = run_meta("standard normal", np.empty((0, args.d), np.float32))
    meta.update(n_samples=sorted({r["n"] for r in records}), threads=args.threads,
                init="random", n_init=1, max_iter=args.max_iter, device=args.device)
    try:
        import faiss

        meta["faiss"] = faiss.__version__
    except ImportError:
        meta["faiss"] = None
    md = table(records)
    write_results(args.out, meta, records, md)
    print(md)


if __name__ == "__main__":
    main()

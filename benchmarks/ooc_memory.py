"""Peak anonymous memory of ``DECClusterer.fit`` on uint8 memory maps larger than MNIST.

For each ``n`` of ``--n``, a uint8 memory map of ``n`` MNIST-sized rows (784 pixels) is
synthesised from MNIST -- random training images, each shifted by up to
``--max-shift`` pixels in both directions and given Gaussian noise of standard
deviation ``--noise`` (clipped to 0..255) -- and written to a temporary directory
(``--workdir``; deleted afterwards unless ``--keep``; never commit it). Then a fresh
process opens it read-only and fits ``DECClusterer(input_scale=1/255, ...)`` with
``--pretrain-epochs`` and ``--max-epochs`` epochs (1 each by default) while a thread
samples ``RssAnon`` from ``/proc/self/status`` every ``--interval`` seconds.

``RssAnon`` counts the process's anonymous pages -- the Python heap, NumPy and torch
allocations -- but not the file-backed pages of the memory map, which the kernel can
drop at any time: it is the memory a fit really needs. The table gives it before the
fit (torch, the package and the open memory map loaded, and a warm-up fit on the first
2,000 rows done, so that lazily loaded modules and thread pools are not counted), its
peak during the fit, the
growth, and the growth per row (bytes), which should be about the per-row state of the
fit (embedding, soft assignments and targets, labels, indices: some tens of bytes) and
not the 784 x 4 bytes of a float32 copy of a row. ``RssFile`` (the memory map's pages
in memory) is reported too.

Full run (one size at a time, alone on the machine; minutes to hours on a few cores)::

    OMP_NUM_THREADS=<cores> python benchmarks/ooc_memory.py \\
        --n 200000 1000000 2000000 --data-home /path/to/mnist \\
        --threads <cores> --out benchmarks/results/ooc_memory

Quick check (seconds)::

    python benchmarks/ooc_memory.py --n 5000 --hidden-dims 32 --n-init 1 \\
        --data-home /path/to/mnist --out /tmp/ooc_memory_quick
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

MiB = 2**20


def _status(key):
    """A field of ``/proc/self/status`` in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status (Linux only)")


class Sampler(threading.Thread):
    """Samples RssAnon and RssFile every ``interval`` seconds until stopped."""

    def __init__(self, interval):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_anon = self.peak_file = 0
        self.samples = 0
        self._done = threading.Event()

    def sample(self):
        self.peak_anon = max(self.peak_anon, _status("RssAnon"))
        self.peak_file = max(self.peak_file, _status("RssFile"))
        self.samples += 1

    def run(self):
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def stop(self):
        self._done.set()
        self.join()
        self.sample()


def synthesise(path, n, data_home, max_shift, noise, seed, block=20_000):
    """Write ``n`` jittered, noisy MNIST images (uint8, n x 784) to ``path``."""
    import numpy as np

    from skdeepcluster.datasets import load_mnist

    X, y = load_mnist(data_home=data_home, subset="train", return_X_y=True)
    images = np.asarray(X, dtype=np.uint8).reshape(-1, 28, 28)
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 784))
    labels = np.empty(n, dtype=np.int8)
    for start in range(0, n, block):
        stop = min(n, start + block)
        idx = rng.integers(0, len(images), stop - start)
        batch = images[idx].astype(np.float32)
        shifts = rng.integers(-max_shift, max_shift + 1, size=(stop - start, 2))
        for dy in range(-max_shift, max_shift + 1):
            for dx in range(-max_shift, max_shift + 1):
                sel = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
                if sel.any():
                    batch[sel] = np.roll(batch[sel], (dy, dx), axis=(1, 2))
        batch += rng.normal(0.0, noise, size=batch.shape).astype(np.float32)
        out[start:stop] = np.clip(np.rint(batch), 0, 255).reshape(-1, 784)
        labels[start:stop] = y[idx]
    out.flush()
    del out
    return labels


def child(args):
    """One fit, in this process; prints one JSON line."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from sklearn.base import clone

    from skdeepcluster import DECClusterer

    torch.set_num_threads(args.threads)
    X = np.load(args.child, mmap_mode="r")
    assert isinstance(X, np.memmap) and X.dtype == np.uint8
    dec = DECClusterer(
        n_clusters=args.n_clusters, hidden_dims=args.hidden_dims,
        latent_dim=args.latent_dim, pretrain_epochs=args.pretrain_epochs,
        max_epochs=args.max_epochs, n_init=args.n_init, input_scale=1 / 255,
        device=args.device, random_state=0,
    )
    # Warm-up: a fit on the first rows loads every lazily imported module and thread
    # pool, so that the growth measured next is what the data size costs.
    with threadpool_limits(args.threads):
        warm = min(len(X), 2000)
        clone(dec).set_params(n_init=1).fit(X[:warm])
    sampler = Sampler(args.interval)
    sampler.sample()
    base_anon, base_file = sampler.peak_anon, sampler.peak_file
    sampler.start()
    start = time.perf_counter()
    with threadpool_limits(args.threads):
        dec.fit(X)
    fit_s = time.perf_counter() - start
    sampler.stop()
    n = X.shape[0]
    growth = sampler.peak_anon - base_anon
    print(json.dumps({
        "n": n, "data_mb": round(X.nbytes / MiB, 1),
        "base_anon_mb": round(base_anon / MiB, 1),
        "peak_anon_mb": round(sampler.peak_anon / MiB, 1),
        "growth_mb": round(growth / MiB, 1),
        "growth_bytes_per_row": round(growth / n, 1),
        "base_file_mb": round(base_file / MiB, 1),
        "peak_file_mb": round(sampler.peak_file / MiB, 1),
        "fit_s": round(fit_s, 1), "samples": sampler.samples,
        "n_iter": int(dec.n_iter_), "labels_used": int(len(np.unique(dec.labels_))),
    }))


def _markdown(record):
    cfg = record["config"]
    lines = [
        "# Peak anonymous memory of DECClusterer.fit on uint8 memory maps",
        "",
        f"Command: `{record['command']}`",
        "",
        f"Machine: {record['machine']}; torch {record['torch']}, {cfg['threads']} "
        f"thread(s), device {cfg['device']}. DECClusterer(n_clusters={cfg['n_clusters']}, "
        f"hidden_dims={cfg['hidden_dims']}, latent_dim={cfg['latent_dim']}, "
        f"pretrain_epochs={cfg['pretrain_epochs']}, max_epochs={cfg['max_epochs']}, "
        f"n_init={cfg['n_init']}, input_scale=1/255, random_state=0) on a read-only "
        f"uint8 np.memmap of n x 784 rows synthesised from MNIST (shift <= "
        f"{cfg['max_shift']} px, noise sd {cfg['noise']}). RssAnon sampled every "
        f"{cfg['interval']} s in a fresh process per size; growth = peak - before the "
        f"fit (torch and the memory map loaded, after a warm-up fit on 2,000 rows). "
        f"File-backed pages (RssFile) are the memory map's, which the kernel may drop.",
        "",
        "| n | data (MB) | RssAnon before (MB) | peak (MB) | growth (MB) | "
        "growth / row (B) | RssFile peak (MB) | fit (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in record["results"]:
        lines.append(
            f"| {r['n']:,} | {r['data_mb']} | {r['base_anon_mb']} | {r['peak_anon_mb']} "
            f"| {r['growth_mb']} | {r['growth_bytes_per_row']} | {r['peak_file_mb']} "
            f"| {r['fit_s']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[200_000, 1_000_000, 2_000_000])
    parser.add_argument("--data-home", default=None, help="where mnist.npz is")
    parser.add_argument("--out", default=None,
                        help="output prefix: writes PREFIX.json and PREFIX.md")
    parser.add_argument("--workdir", default=None,
                        help="directory for the synthesised memory maps (default: a "
                             "temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the memory maps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-clusters", type=int, default=10)
    parser.add_argument("--hidden-dims", default="500,500,2000",
                        help="comma-separated widths (default: the papers')")
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=1)
    parser.add_argument("--n-init", type=int, default=20)
    parser.add_argument("--max-shift", type=int, default=2)
    parser.add_argument("--noise", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.hidden_dims = tuple(int(h) for h in str(args.hidden_dims).split(",") if h)
    if args.child is not None:
        child(args)
        return

    workdir = args.workdir or tempfile.mkdtemp(prefix="ooc_memory_")
    os.makedirs(workdir, exist_ok=True)
    results = []
    try:
        for n in args.n:
            path = os.path.join(workdir, f"mnist_synth_{n}.npy")
            if not os.path.exists(path):
                t0 = time.perf_counter()
                synthesise(path, n, args.data_home, args.max_shift, args.noise, args.seed)
                print(f"n={n:,}: synthesised in {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr)
            cmd = [sys.executable, os.path.abspath(__file__), "--child", path,
                   "--threads", str(args.threads), "--device", args.device,
                   "--n-clusters", str(args.n_clusters),
                   "--hidden-dims", ",".join(map(str, args.hidden_dims)),
                   "--latent-dim", str(args.latent_dim),
                   "--pretrain-epochs", str(args.pretrain_epochs),
                   "--max-epochs", str(args.max_epochs), "--n-init", str(args.n_init),
                   "--interval", str(args.interval)]
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
            if not args.keep:
                os.remove(path)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    import torch

    record = {
        "command": " ".join(shlex.quote(a) for a in
                            ["python", "benchmarks/ooc_memory.py", *(argv or sys.argv[1:])]),
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()}, "
                   f"{os.cpu_count()} CPUs)",
        "torch": torch.__version__,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
                   if k not in ("child", "out", "workdir", "keep", "n", "data_home")},
        "results": results,
    }
    text = _markdown(record)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + ".json", "w") as f:
            json.dump(record, f, indent=2)
        with open(args.out + ".md", "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

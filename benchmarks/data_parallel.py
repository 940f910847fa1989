"""Samples per second of MNIST pretraining in one process and data-parallel in several.

Three configurations of the same ``AutoEncoder.fit`` (the default MNIST network
784-500-500-2000-10, batch 256 per process, ``--epochs`` epochs on the first ``--rows``
MNIST rows divided by 255, ``mixed_precision`` as given), each in fresh processes, one after the
other:

- ``1 process x T threads`` (T = ``--threads``, default 2: every core in one process),
- ``1 process x 1 thread``,
- ``P processes x 1 thread`` started by ``torchrun --nproc_per_node P`` (Accelerate
  sets up their gloo process group; each process takes 1/P of every pass's batches
  and the gradients are all-reduced every step, so a step trains on P x 256 samples).

Samples per second = rows x epochs / wall time of the epochs, from the fit's own
``history_`` (``dur``; the first epoch is left out as warm-up), on rank 0. Run it alone
on the machine::

    python benchmarks/data_parallel.py --data-home ../shared/data \\
        --out benchmarks/results/data_parallel

It calls itself (``--worker``) for each measurement.
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys


def worker(args):
    import numpy as np
    import torch

    from skdeepcluster import AutoEncoder
    from skdeepcluster._distributed import world
    from skdeepcluster.datasets import load_mnist

    torch.set_num_threads(args.threads)
    X, _ = load_mnist(data_home=args.data_home, return_X_y=True)
    X = np.ascontiguousarray(X[:args.rows], dtype=np.float32) / np.float32(255)
    ae = AutoEncoder(max_epochs=args.epochs, batch_size=256, random_state=0,
                     mixed_precision=args.mixed_precision, device="cpu").fit(X)
    rank, size = world()
    timed = ae.history_[1:]
    seconds = sum(row["dur"] for row in timed)
    if rank == 0:
        print(json.dumps({
            "processes": size, "threads": torch.get_num_threads(), "n": len(X),
            "epochs_timed": len(timed), "s_per_epoch": round(seconds / len(timed), 3),
            "samples_per_s": round(len(X) * len(timed) / seconds, 1),
            "batches_per_process": timed[-1].get("n_batches", None),
            "loss": round(float(timed[-1]["train_loss"]), 5),
        }))


def _launch(cmd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-home", default=None)
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--mixed-precision", default="auto",
                   type=lambda v: v if v == "auto" else v == "True")
    p.add_argument("--out", default=None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    base = [__file__, "--worker", "--rows", str(args.rows), "--epochs", str(args.epochs),
            "--mixed-precision", str(args.mixed_precision)]
    if args.data_home:
        base += ["--data-home", args.data_home]
    runs = [
        ([sys.executable, *base, "--threads", str(args.threads)], args.threads),
        ([sys.executable, *base, "--threads", "1"], 1),
        ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
          str(args.processes), *base, "--threads", "1"], 1),
    ]
    rows = []
    for cmd, threads in runs:
        row = _launch(cmd, threads)
        print(json.dumps(row), flush=True)
        rows.append(row)
    import torch

    flags = sorted({f for f in open("/proc/cpuinfo").read().split()
                    if f.startswith(("avx512_bf16", "amx", "avx512f", "avx2"))})
    head = (f"MNIST pretraining, first {args.rows} rows, {args.epochs} epochs (first left "
            f"out), batch 256 per process, mixed_precision={args.mixed_precision}; "
            f"torch {torch.__version__}, {os.cpu_count()} cores, CPU flags: "
            f"{' '.join(flags)}; {platform.processor() or platform.machine()}")
    lines = [head, "",
             f"`python benchmarks/data_parallel.py {shlex.join(sys.argv[1:])}`", "",
             "| processes x threads | batches per process per epoch | s / epoch | "
             "samples / s | vs 1 x " + str(args.threads) + " |",
             "| --- | --- | --- | --- | --- |"]
    ref = rows[0]["samples_per_s"]
    for row in rows:
        lines.append(f"| {row['processes']} x {row['threads']} | "
                     f"{row['batches_per_process'] or '–'} | {row['s_per_epoch']} | "
                     f"{row['samples_per_s']:.0f} | {row['samples_per_s'] / ref:.2f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out + ".json", "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)
        with open(args.out + ".md", "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()

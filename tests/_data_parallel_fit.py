"""Fitted by ``test_distributed.py`` as 2 processes (``accelerate launch``) and as one.

Usage: python _data_parallel_fit.py OUT_DIR. Each process writes ``rank{r}.json``: the
process's rank and world size, each estimator's per-epoch batch counts (from
``history_``), labels and centres; rank 0 also pickles the fitted models.
"""

import json
import os
import pickle
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits

from skdeepcluster import AutoEncoder, DECClusterer, DeepClusterClusterer, VaDEClusterer
from skdeepcluster._distributed import world


def main(out):
    torch.set_num_threads(1)
    X = (load_digits().data[:320] / 16).astype(np.float32)
    tiny = dict(hidden_dims=(32,), latent_dim=4, batch_size=32, device="cpu", random_state=0,
                mixed_precision=False)
    fits = {
        # Not images (image_shape=None): augmentation draws differ between one process
        # and two by design, and this fit is compared with a one-process fit.
        "ae": AutoEncoder(max_epochs=3, image_shape=None, **tiny),
        "idec": DECClusterer(n_clusters=5, gamma=0.1, pretrain_epochs=3, max_epochs=3, n_init=3,
                             **tiny),
        "vade": VaDEClusterer(n_clusters=5, pretrain_epochs=3, max_epochs=2, n_init=2, **tiny),
        "deepcluster": DeepClusterClusterer(n_clusters=5, n_pseudo_clusters=8, max_epochs=2,
                                            n_init=2, **tiny),
    }
    rank, size = world()
    if size == 1:
        # What two processes of batch 32 compute, step by step: the mean gradient of the
        # same 64 rows (320 rows: every batch full).
        fits["ae_batch64"] = AutoEncoder(max_epochs=3, image_shape=None,
                                         **dict(tiny, batch_size=64))
    record = {"rank": rank, "world_size": size}
    for name, est in fits.items():
        est.fit(X)
        history = est.history_
        record[name] = {
            "n_batches": [row.get("n_batches") for row in history],
            "world_sizes": [row.get("world_size") for row in history],
            "loss": [row["train_loss"] for row in history],
            "transform": est.transform(X[:20]).tolist(),
            "labels": None if name.startswith("ae") else est.labels_.tolist(),
            "centers": (None if name.startswith("ae")
                        else np.asarray(est.cluster_centers_).tolist()),
        }
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(record, f)
    if rank == 0:
        with open(os.path.join(out, "models.pkl"), "wb") as f:
            pickle.dump(fits, f)


if __name__ == "__main__":
    main(sys.argv[1])

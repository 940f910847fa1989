"""Tiny, fast instances of every estimator for the common checks and API tests, and the
helpers the test files share."""

import numpy as np

from skdeepcluster import (
    AutoEncoder,
    DCNClusterer,
    DECClusterer,
    DeepClusterClusterer,
    VaDEClusterer,
)

TINY = dict(hidden_dims=(16,), latent_dim=3, device="cpu", random_state=0)


def tiny_autoencoder(**kw):
    return AutoEncoder(**{**TINY, "max_epochs": 5, "batch_size": 16, **kw})


def tiny_clusterers(**kw):
    """One tiny instance of each clusterer (DEC, IDEC, DCN, DeepCluster, VaDE)."""
    common = {**TINY, "pretrain_epochs": 5, "max_epochs": 5, "batch_size": 16, **kw}
    return [
        DECClusterer(n_clusters=3, n_init=3, **common),
        DECClusterer(n_clusters=3, n_init=3, gamma=0.1, **common),
        DCNClusterer(n_clusters=3, n_init=3, **common),
        # DeepCluster trains from scratch: no pretraining parameters.
        DeepClusterClusterer(n_clusters=3, n_pseudo_clusters=6, n_init=3,
                             **{k: v for k, v in common.items() if not k.startswith("pretrain")
                                and k not in ("autoencoder", "memory")}),
        VaDEClusterer(n_clusters=3, n_init=2, **common),
    ]


def estimator_id(est):
    """A test id: the class name, and ``(gamma)`` for IDEC (DEC with ``gamma > 0``)."""
    return type(est).__name__ + ("(gamma)" if getattr(est, "gamma", 0) else "")


def assert_valid_labels(labels, k, n):
    """``n`` labels in ``range(k)``, every cluster non-empty."""
    assert labels.shape == (n,)
    assert labels.min() >= 0 and labels.max() < k
    assert np.bincount(labels, minlength=k).min() > 0

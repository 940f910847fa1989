"""Tiny, fast instances of every estimator for the common checks and API tests."""

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

"""
=================================
Training curves from ``history_``
=================================

Every estimator records one entry per epoch in ``history_`` (a list of dicts, from its
skorch net). The keys depend on the method:

- DEC: ``train_loss`` (the KL divergence) and ``delta_label``, the fraction of labels
  that changed since the previous target update; training stops when it falls below
  ``tol``.
- DCN: ``train_loss`` (reconstruction + ``lam`` x k-means loss) and ``delta_label``.
- VaDE: ``train_loss`` (the negative ELBO per sample) and ``delta_label``.
- DeepCluster: ``train_loss`` (cross-entropy on the pseudo-labels), ``kmeans_loss`` and
  ``nmi_previous``, the NMI between the pseudo-labels of consecutive epochs; it rises
  toward 1 as the features stabilise.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skdeepcluster import (AutoEncoder, DCNClusterer, DECClusterer, DeepClusterClusterer,
                           VaDEClusterer)
from skdeepcluster.inspection import TrainingCurvesDisplay

X, y = load_digits(return_X_y=True)
X = (X / 16).astype("float32")

autoencoder = AutoEncoder(random_state=0).fit(X)
common = dict(n_clusters=10, autoencoder=autoencoder, random_state=0)
models = {
    "DEC": DECClusterer(tol=0.0, max_epochs=30, **common),
    "DCN": DCNClusterer(tol=0.0, max_epochs=30, **common),
    "VaDE": VaDEClusterer(tol=0.0, max_epochs=30, **common),
    "DeepCluster": DeepClusterClusterer(n_clusters=10, image_shape=(1, 8, 8),
                                        max_epochs=30, random_state=0),
}
for model in models.values():
    model.fit(X)

# %%
# One column per method: the training loss (top) and the convergence signal (bottom),
# drawn by :class:`~skdeepcluster.inspection.TrainingCurvesDisplay` (``keys`` chooses the
# records, ``ax`` the Axes; without them, every numeric record gets its own subplot).
# DEC's loss rises at first although the clustering improves: it is the divergence from
# a target distribution that is itself re-sharpened at every update.
fig, axes = plt.subplots(2, 4, figsize=(13, 5.5), sharex=True)
for col, (name, model) in enumerate(models.items()):
    key = "nmi_previous" if name == "DeepCluster" else "delta_label"
    TrainingCurvesDisplay.from_estimator(model, keys=["train_loss", key], ax=axes[:, col])
    axes[0, col].set_title(name)
    axes[0, col].set_xlabel("")
fig.tight_layout()
plt.show()

"""
==========================================
VaDE: generating digits cluster by cluster
==========================================

:class:`~skdeepcluster.VaDEClusterer` is a generative model: a Gaussian mixture in the
embedding and a decoder from the embedding to the data. ``sample(n)`` draws a component
``c`` with probability ``weights_[c]``, an embedding from that component and an image from
the decoder, as :meth:`sklearn.mixture.GaussianMixture.sample` does. Drawing from one
component at a time shows what each cluster has learned.

The digits lie in [0, 1] after scaling, so ``likelihood="auto"`` picks a Bernoulli decoder
and the samples below are its pixel probabilities.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits

from skdeepcluster import VaDEClusterer
from skdeepcluster.metrics import clustering_accuracy_score

X, y = load_digits(return_X_y=True)
X = (X / 16).astype("float32")

vade = VaDEClusterer(n_clusters=10, random_state=0).fit(X)
print(f"likelihood: {vade.likelihood_}, accuracy "
      f"{clustering_accuracy_score(y, vade.labels_):.3f}, "
      f"mean ELBO {vade.score(X):.1f} nats")

# %%
# Eight samples from each component (one row per cluster). To draw from a chosen
# component we use the fitted mixture and the decoder directly; ``vade.sample(n)`` does
# the same with components drawn by their weights.
rng = np.random.default_rng(0)
n_per_cluster = 8
module = vade.module_
param = next(module.parameters())  # the model's dtype and device
fig, axes = plt.subplots(10, n_per_cluster + 1, figsize=(6, 7.5))
for c in range(10):
    z = vade.means_[c] + np.sqrt(vade.covariances_[c]) * rng.standard_normal(
        (n_per_cluster, vade.means_.shape[1]))
    with torch.no_grad():
        z = torch.as_tensor(z, dtype=param.dtype, device=param.device)
        images = module.decode_mean(z).cpu().numpy()
    # first column: the mean image of the training digits in this cluster
    axes[c, 0].imshow(X[vade.labels_ == c].mean(0).reshape(8, 8), cmap="gray_r")
    for j in range(n_per_cluster):
        axes[c, j + 1].imshow(images[j].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_title("cluster\nmean", fontsize=8)
fig.suptitle("VaDE samples, one component per row", fontsize=10)
fig.tight_layout()
plt.show()

# %%
# ``sample`` returns the generated rows and the component each came from.
X_new, components = vade.sample(5)
print(X_new.shape, components)

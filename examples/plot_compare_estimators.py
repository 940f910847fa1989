"""
=================================================
The four deep clusterers and KMeans, side by side
=================================================

DEC, IDEC, DCN, VaDE and DeepCluster on the same data, scored against the true digits
with accuracy (after the best matching of clusters to classes), NMI and ARI, with their
fit times, and a contingency matrix per method.

DEC, IDEC, DCN and VaDE start from one autoencoder, pretrained once and passed to each
with ``autoencoder=``: that is how to compare them fairly, and the pretraining is paid
once (its time is shown separately). DeepCluster trains its own conv net from scratch.
One seed on a small dataset: differences of a few points are within the spread you would
see across seeds (see the benchmarks for means over seeds on MNIST).
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from skdeepcluster import (AutoEncoder, DCNClusterer, DECClusterer, DeepClusterClusterer,
                           VaDEClusterer)
from skdeepcluster.inspection import ContingencyMatrixDisplay
from skdeepcluster.metrics import clustering_accuracy_score

X, y = load_digits(return_X_y=True)
X = (X / 16).astype("float32")

t0 = time.perf_counter()
# The autoencoder each of them would pretrain by itself (the defaults).
autoencoder = AutoEncoder(random_state=0).fit(X)
pretrain_s = time.perf_counter() - t0
print(f"shared pretraining: {pretrain_s:.1f} s")

common = dict(n_clusters=10, autoencoder=autoencoder, random_state=0)
models = {
    "KMeans": KMeans(n_clusters=10, n_init=20, random_state=0),
    "DEC": DECClusterer(**common),
    "IDEC": DECClusterer(gamma=0.1, **common),
    "DCN": DCNClusterer(**common),
    "VaDE": VaDEClusterer(**common),
    "DeepCluster": DeepClusterClusterer(n_clusters=10, image_shape=(1, 8, 8),
                                        random_state=0),
}

results = {}
for name, model in models.items():
    t0 = time.perf_counter()
    labels = model.fit(X).labels_
    results[name] = dict(
        labels=labels, time=time.perf_counter() - t0,
        ACC=clustering_accuracy_score(y, labels),
        NMI=normalized_mutual_info_score(y, labels),
        ARI=adjusted_rand_score(y, labels))
    r = results[name]
    print(f"{name:12s} ACC {r['ACC']:.3f}  NMI {r['NMI']:.3f}  ARI {r['ARI']:.3f}  "
          f"fit {r['time']:5.1f} s")

# %%
# Scores and fit times. The times of the four autoencoder-based methods exclude the
# shared pretraining (the dashed line).
names = list(results)
fig, (ax_score, ax_time) = plt.subplots(1, 2, figsize=(12, 4),
                                         gridspec_kw={"width_ratios": [2, 1]})
width = 0.27
x = np.arange(len(names))
for i, metric in enumerate(["ACC", "NMI", "ARI"]):
    ax_score.bar(x + (i - 1) * width, [results[n][metric] for n in names], width,
                 label=metric)
ax_score.set_xticks(x, names)
ax_score.set_ylim(0, 1)
ax_score.legend(loc="lower right")
ax_score.set_title("agreement with the true digits")
ax_time.barh(names, [results[n]["time"] for n in names], color="tab:gray")
ax_time.axvline(pretrain_s, color="k", ls="--", lw=1, label="shared pretraining")
ax_time.invert_yaxis()
ax_time.set_xlabel("fit time (s)")
ax_time.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# Contingency matrices (:class:`~skdeepcluster.inspection.ContingencyMatrixDisplay`):
# rows are true digits, columns the clusters, reordered by the matching that defines the
# accuracy, so that the diagonal holds the correctly clustered digits. Mass off the
# diagonal shows which digits a method merges or splits.
fig, axes = plt.subplots(2, 3, figsize=(11, 7))
for ax, name in zip(axes.ravel(), names):
    display = ContingencyMatrixDisplay.from_predictions(
        y, results[name]["labels"], ax=ax, colorbar=False, text_kw={"fontsize": 6})
    ax.set_title(f"{name} (ACC {display.accuracy:.2f})", fontsize=10)
    ax.set_xlabel("cluster", fontsize=8)
    ax.set_ylabel("digit", fontsize=8)
    ax.tick_params(labelsize=7)
fig.tight_layout()
plt.show()

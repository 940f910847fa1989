"""
=============================================
DEC on digits: the embedding before and after
=============================================

Deep Embedded Clustering (:class:`~skdeepcluster.DECClusterer`) first pretrains an
autoencoder, clusters its embedding with k-means, then trains the encoder and the cluster
centres together so that every point commits to one cluster.

We pretrain the autoencoder once, look at its 10-dimensional embedding (projected to 2-D
with PCA) coloured by the true digit, then fit DEC from that same autoencoder and look at
the embedding again, coloured by DEC's clusters.
"""

# %%
# Data: 8 x 8 images, scaled to [0, 1] and converted to float32 (the fast path).
import time

import matplotlib.pyplot as plt
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits

from skdeepcluster import AutoEncoder, DECClusterer
from skdeepcluster.inspection import EmbeddingDisplay
from skdeepcluster.metrics import clustering_accuracy_score

X, y = load_digits(return_X_y=True)
X = (X / 16).astype("float32")

# %%
# Pretraining with the defaults. With fewer than 5,000 samples the "auto" settings pick
# a (256, 256, 512) network, batches of 64 and Adam (the papers' 500-500-2000 network
# and SGD recipe are for MNIST-sized data), and for data in [0, 1] the binary
# cross-entropy as reconstruction loss.
t0 = time.perf_counter()
autoencoder = AutoEncoder(random_state=0).fit(X)
print(f"pretraining: {time.perf_counter() - t0:.1f} s")

Z_before = autoencoder.transform(X)
kmeans_labels = KMeans(n_clusters=10, n_init=20, random_state=0).fit_predict(Z_before)
print(f"k-means on the pretrained embedding: accuracy "
      f"{clustering_accuracy_score(y, kmeans_labels):.3f}")

# %%
# DEC starts from the fitted autoencoder (it is reused, not refitted, and not modified).
t0 = time.perf_counter()
dec = DECClusterer(n_clusters=10, autoencoder=autoencoder, random_state=0).fit(X)
print(f"DEC clustering phase: {time.perf_counter() - t0:.1f} s, {dec.n_iter_} epochs")
print(f"DEC: accuracy {clustering_accuracy_score(y, dec.labels_):.3f}")

# %%
# The same PCA view of both embeddings, drawn by
# :class:`~skdeepcluster.inspection.EmbeddingDisplay`: ``from_estimator`` projects
# ``transform(X)`` to 2-D and colours it by the true labels when given, else by the
# estimator's clusters. DEC sharpens the clusters: points move toward their centre, and
# the clusters separate.
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
EmbeddingDisplay.from_estimator(autoencoder, X, y, ax=axes[0])
axes[0].set_title("pretrained embedding (colour: true digit)", fontsize=10)
EmbeddingDisplay.from_estimator(dec, X, ax=axes[1], legend=False)
axes[1].set_title("after DEC (colour: DEC cluster)", fontsize=10)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %%
# ``predict`` assigns new rows to the learned clusters and ``predict_proba`` gives DEC's
# soft assignments (Student-t kernel), one row per sample.
proba = dec.predict_proba(X[:3])
print(proba.round(2))
print(dec.predict(X[:3]))

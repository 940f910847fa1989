"""k-means on embeddings, nearest-centre assignment and empty-cluster reseeding.

Every estimator clusters its embeddings through these functions, so that labels are
always ``0..k-1`` with every cluster non-empty on the data it was computed on.
"""

import numpy as np
import torch
from sklearn.cluster import KMeans

from ._losses import squared_distances


def kmeans(Z, n_clusters, *, n_init=20, seed=0, max_iter=300):
    """k-means on an embedding (numpy array); returns ``(centers, labels, inertia)``.

    Centres are in ``Z``'s dtype; labels are int64 and every cluster is non-empty.
    """
    Z = np.asarray(Z)
    km = KMeans(n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, random_state=seed)
    labels = km.fit_predict(Z).astype(np.int64)
    centers = km.cluster_centers_.astype(Z.dtype, copy=False)
    centers, labels = reseed_empty_clusters(Z, centers, labels)
    return centers, labels, float(km.inertia_)


def nearest_center(Z, centers, chunk_size=4096):
    """Index of the nearest centre for each row of ``Z``.

    Tensors in, int64 tensor out. Exact squared distances, row by row, so a row's label
    never depends on the other rows of the batch.
    """
    return torch.cat([squared_distances(Z[i:i + chunk_size], centers).argmin(1)
                      for i in range(0, len(Z), chunk_size)])


def assign_nonempty(Z, centers, max_rounds=10):
    """Nearest-centre labels of ``Z`` after reseeding the centres of empty clusters.

    Numpy in and out; returns ``(centers, labels)`` where, as far as the data allows
    (enough distinct rows), every cluster holds at least one row and each row is
    assigned to its nearest centre.
    """
    for _ in range(max_rounds):
        labels = nearest_center(torch.from_numpy(Z), torch.from_numpy(centers)).numpy()
        if np.bincount(labels, minlength=len(centers)).min() > 0:
            break
        centers, _ = reseed_empty_clusters(Z, centers, labels)
    return centers, labels.astype(np.int64)


def reseed_empty_clusters(Z, centers, labels):
    """Move the centre of every empty cluster onto a data point that then joins it.

    The points chosen are those farthest from their current centre (as scikit-learn's
    k-means relocates empty clusters), taken among distinct rows of ``Z`` and never
    from a cluster that would become empty in turn. Works on numpy arrays; returns new
    ``(centers, labels)`` and leaves the inputs unchanged.
    """
    k = len(centers)
    counts = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(counts == 0)
    if len(empty) == 0:
        return centers, labels
    centers, labels = centers.copy(), labels.copy()
    dist = ((Z - centers[labels]) ** 2).sum(1)
    taken = []
    for j in empty:
        for i in np.argsort(-dist, kind="stable"):
            if counts[labels[i]] > 1 and not any(np.array_equal(Z[i], Z[t]) for t in taken):
                break
        else:  # fewer distinct points than clusters: nothing can be done
            continue
        counts[labels[i]] -= 1
        counts[j] += 1
        labels[i] = j
        centers[j] = Z[i]
        dist[i] = -np.inf
        taken.append(i)
    return centers, labels

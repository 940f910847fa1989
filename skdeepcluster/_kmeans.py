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


def refine_kmeans(Z, centers, *, max_iter=300):
    """Lloyd's k-means on ``Z`` started from ``centers`` (one run); numpy in and out.

    Returns ``(centers, labels, inertia)`` like :func:`kmeans`, with every cluster
    non-empty; cluster ``j`` of the result continues cluster ``j`` of ``centers``.
    """
    Z = np.asarray(Z)
    init = np.asarray(centers, dtype=Z.dtype)
    km = KMeans(n_clusters=len(init), init=init, n_init=1, max_iter=max_iter,
                random_state=0)
    labels = km.fit_predict(Z).astype(np.int64)
    centers = km.cluster_centers_.astype(Z.dtype, copy=False)
    centers, labels = reseed_empty_clusters(Z, centers, labels)
    return centers, labels, float(km.inertia_)


def online_center_update(centers, counts, Z, labels):
    """DCN's per-sample k-means centre update over a batch (tensors in and out).

    Feeding the rows of ``Z`` one at a time, each row ``z`` assigned to cluster
    ``k = labels[i]`` does ``counts[k] += 1`` then
    ``centers[k] -= (centers[k] - z) / counts[k]`` (Yang et al., 2017, Algorithm 1). The
    result does not depend on the order of the rows: each centre becomes the running
    mean ``(c_k * mu_k + sum_{i: labels_i = k} z_i) / (c_k + n_k)`` of its old value,
    weighted by its count ``c_k``, and of the ``n_k`` rows assigned to it; that is what
    is computed here, in one vectorised step. Centres without rows are unchanged.
    Returns new ``(centers, counts)``; the inputs are not modified.
    """
    k = len(centers)
    n_k = torch.bincount(labels, minlength=k).to(counts.dtype)
    sums = torch.zeros_like(centers).index_add_(0, labels, Z.to(centers.dtype))
    new_counts = counts + n_k
    step = (sums - n_k.unsqueeze(1).to(centers.dtype) * centers)
    denom = new_counts.clamp_min(1).unsqueeze(1).to(centers.dtype)
    return centers + step / denom, new_counts


def pca_whitening(Z, n_components, eps=1e-5):
    """PCA-whitening fitted on ``Z`` (tensor): ``(mean, components)``, in ``Z``'s dtype.

    ``components`` has shape ``(n_components, n_features)``: the principal axes, largest
    variance first, each divided by the square root of its variance (plus ``eps`` times
    the largest variance, so that directions without variance are not blown up). The
    sign of each axis is fixed (largest entry positive). The covariance and its
    eigendecomposition are computed in float64 (float32 on MPS).
    """
    wide = torch.float32 if Z.device.type == "mps" else torch.float64
    Zw = Z.to(wide)
    mean = Zw.mean(0)
    Zc = Zw - mean
    cov = Zc.T @ Zc / max(len(Z) - 1, 1)
    evals, evecs = torch.linalg.eigh(cov)
    evals, evecs = evals.flip(0).clamp_min(0)[:n_components], evecs.flip(1)[:, :n_components]
    signs = torch.sign(evecs.gather(0, evecs.abs().argmax(0, keepdim=True)))
    evecs = evecs * torch.where(signs == 0, 1.0, signs).to(wide)
    scale = torch.rsqrt(evals + eps * evals.max() + torch.finfo(wide).tiny)
    return mean.to(Z.dtype), (evecs * scale).T.contiguous().to(Z.dtype)


def whiten_normalize(Z, mean, components):
    """Rows of ``(Z - mean) @ components.T`` scaled to unit L2 norm (tensors).

    A row that whitens to zero stays zero.
    """
    P = (Z - mean) @ components.T
    return P / P.norm(dim=1, keepdim=True).clamp_min(torch.finfo(P.dtype).tiny)


def kmeans_torch(Z, n_clusters, *, generator, n_init=1, max_iter=20):
    """Lloyd's k-means in torch on ``Z``'s device: ``(centers, labels, inertia)``.

    Started from distinct random rows drawn with ``generator`` (a CPU generator); the
    best of ``n_init`` runs by inertia. Empty clusters are reseeded as in
    :func:`reseed_empty_clusters` (onto the row farthest from its centre, taken from a
    cluster with more than one row), so every cluster is non-empty as far as the data
    allows. Used where the data lives on a GPU and should stay there.
    """
    n = len(Z)
    best = None
    for _ in range(n_init):
        idx = torch.randperm(n, generator=generator)[:n_clusters].to(Z.device)
        centers = Z[idx].clone()
        for _ in range(max_iter):
            labels = _nearest_center_mm(Z, centers)
            counts = torch.bincount(labels, minlength=n_clusters)
            sums = torch.zeros_like(centers).index_add_(0, labels, Z)
            centers = torch.where((counts > 0)[:, None],
                                  sums / counts.clamp_min(1)[:, None].to(Z.dtype), centers)
        labels = _nearest_center_mm(Z, centers)
        centers, labels = _reseed_empty_torch(Z, centers, labels)
        inertia = float(((Z - centers[labels]) ** 2).sum())
        if best is None or inertia < best[2]:
            best = (centers, labels, inertia)
    return best


def _nearest_center_mm(Z, centers, chunk_size=16384):
    """Nearest centre through ``||c||^2 - 2 z.c`` (a matmul; for many centres on a GPU)."""
    c2 = (centers * centers).sum(1)
    return torch.cat([(c2 - 2 * Z[i:i + chunk_size] @ centers.T).argmin(1)
                      for i in range(0, len(Z), chunk_size)])


def _reseed_empty_torch(Z, centers, labels):
    k = len(centers)
    counts = torch.bincount(labels, minlength=k)
    empty = torch.nonzero(counts == 0).flatten().tolist()
    if not empty:
        return centers, labels
    centers, labels = centers.clone(), labels.clone()
    dist = ((Z - centers[labels]) ** 2).sum(1)
    order = torch.argsort(dist, descending=True, stable=True).tolist()
    counts, owner = counts.tolist(), labels.tolist()
    taken = []
    pos = 0
    for j in empty:
        while pos < len(order):
            i = order[pos]
            pos += 1
            if counts[owner[i]] > 1 and not any(torch.equal(Z[i], Z[t]) for t in taken):
                break
        else:  # fewer distinct rows than clusters
            break
        counts[owner[i]] -= 1
        counts[j] += 1
        owner[i] = j
        labels[i] = j
        centers[j] = Z[i]
        taken.append(i)
    return centers, labels

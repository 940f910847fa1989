"""k-means on embeddings, nearest-centre assignment and empty-cluster reseeding.

Every estimator clusters its embeddings through these functions, so that labels are
always ``0..k-1`` with every cluster non-empty on the data it was computed on.
:func:`cluster` is the one entry point that runs k-means with the backend an
estimator's ``kmeans_backend`` names (see :func:`resolve_kmeans_backend`).
"""

import warnings

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from ._losses import squared_distances

#: Values of the clusterers' ``kmeans_backend`` parameter.
KMEANS_BACKENDS = ("auto", "sklearn", "torch", "faiss")

#: ``kmeans_backend="auto"`` runs the torch k-means when ``n_samples * n_clusters``
#: exceeds this many distances (e.g. 1,000,000 rows into more than 100 clusters):
#: beyond it scikit-learn's k-means++ initialisation and its ``n_init`` runs take long
#: on one machine, while the torch k-means keeps its distances in bounded blocks and
#: runs on the estimator's device.
AUTO_TORCH_DISTANCES = 10**8

#: Bytes of one block of the ``(rows, n_clusters)`` distances that the torch k-means and
#: :func:`nearest_center` compute at a time: with 10,000 float32 centres, blocks of
#: 3,276 rows (128 MiB). With some 60 bytes per row (labels, distances), 1,000,000
#: rows into 10,000 clusters need under 200 MB beyond the data (measured: 185 MiB of
#: peak resident memory for 1,000,000 x 64 float32 rows, whose blocks have this size
#: from 100 clusters up).
DISTANCE_BLOCK_BYTES = 128 * 2**20

_FAISS_HINT = 'pip install "skdeepcluster[faiss]"'

#: ``reg_covar`` of the ``init="gmm"`` mixture, relative to the embedding's mean
#: variance per dimension (so that the refinement does not depend on its scale).
GMM_REG_COVAR = 1e-5

#: The ``init="gmm"`` mixture is fitted on at most this many rows of the embedding (a
#: random subset beyond): ten full covariances of a 10-dimensional embedding are well
#: estimated from far fewer, and EM's per-row state (rows x clusters) stays bounded.
GMM_MAX_ROWS = 100_000


def random_rows(Z, max_rows, seed):
    """``Z`` itself if it has at most ``max_rows`` rows, else a random ``max_rows`` of
    them (drawn from ``seed``, in their order in ``Z``)."""
    if len(Z) <= max_rows:
        return Z
    rng = np.random.default_rng(seed)
    return Z[np.sort(rng.choice(len(Z), max_rows, replace=False))]


def refine_with_gaussian_mixture(Z, centers, labels, seed):
    """Refine a k-means clustering of ``Z`` by a full-covariance Gaussian mixture.

    EM (:class:`sklearn.mixture.GaussianMixture`, ``covariance_type="full"``) starts from
    the k-means ``centers``; returns ``(centers, labels)``: the mixture's means and each
    row's most probable component. Clusters of an embedding are rarely spheres of one
    size, which is what k-means assumes: a wide class gets split and two close ones
    merged. EM runs on at most :data:`GMM_MAX_ROWS` rows (a random subset drawn from
    ``seed``), and the labels of all rows are computed in blocks, so that memory stays
    bounded for large ``Z``. When EM fails or leaves a component without any row, the
    k-means clustering is returned unchanged.
    """
    Z = np.asarray(Z, dtype=np.float64)
    fit_rows = random_rows(Z, GMM_MAX_ROWS, seed)
    reg_covar = GMM_REG_COVAR * max(float(fit_rows.var(0).mean()), np.finfo(np.float64).tiny)
    mixture = GaussianMixture(len(centers), covariance_type="full", reg_covar=reg_covar,
                              means_init=np.asarray(centers, dtype=np.float64),
                              random_state=seed)
    try:
        with warnings.catch_warnings():
            # Not converging in max_iter steps still leaves a better fit than the start.
            warnings.simplefilter("ignore", ConvergenceWarning)
            mixture.fit(fit_rows)
        refined = np.concatenate([mixture.predict(Z[i:i + GMM_MAX_ROWS])
                                  for i in range(0, len(Z), GMM_MAX_ROWS)])
    except (ValueError, np.linalg.LinAlgError):  # a covariance became singular
        return centers, labels
    if np.bincount(refined, minlength=len(centers)).min() == 0:
        return centers, labels
    return mixture.means_.astype(np.asarray(centers).dtype), refined


#: The ``init="ward"`` clustering links at most this many rows of the embedding (a
#: random subset beyond), and so makes at most this many clusters: Ward's linkage keeps
#: all pairwise distances (for 10,000 rows 0.4 GB in float64, about 0.8 GB of peak
#: memory measured, and a few seconds), and the centres it gives are means over hundreds
#: of rows per cluster.
WARD_MAX_ROWS = 10_000


def check_ward_clusters(n_clusters):
    """Raise a ``ValueError`` if Ward's linkage cannot make ``n_clusters`` clusters
    (more than :data:`WARD_MAX_ROWS`)."""
    if n_clusters > WARD_MAX_ROWS:
        raise ValueError(
            f'init="ward" links at most {WARD_MAX_ROWS:,} rows and cannot make '
            f'n_clusters={n_clusters:,} clusters; use init="kmeans".'
        )


def ward_clustering(Z, n_clusters, seed):
    """Ward's agglomerative clustering of ``Z``: ``(centers, labels)`` (numpy).

    :class:`sklearn.cluster.AgglomerativeClustering` (``linkage="ward"``) merges, from
    single rows up, the two clusters whose merge adds least to the within-cluster sum
    of squares (the objective of k-means, here optimised greedily, without random
    starts). It links at most :data:`WARD_MAX_ROWS` rows (a random subset drawn from
    ``seed`` beyond); the centres are the means of its clusters (in ``Z``'s floating
    dtype), and every row of ``Z`` is labelled by its nearest centre, with every cluster
    non-empty as far as the data allows (see :func:`assign_nonempty`). ``n_clusters``
    above :data:`WARD_MAX_ROWS` raises a ``ValueError``.
    """
    check_ward_clusters(n_clusters)
    Z = np.asarray(Z)
    if not np.issubdtype(Z.dtype, np.floating):
        Z = Z.astype(np.float64)
    linked = random_rows(Z, WARD_MAX_ROWS, seed).astype(np.float64)
    merged = AgglomerativeClustering(n_clusters, linkage="ward").fit_predict(linked)
    sums = np.zeros((n_clusters, Z.shape[1]))
    np.add.at(sums, merged, linked)
    centers = sums / np.bincount(merged, minlength=n_clusters)[:, None]
    return assign_nonempty(Z, centers.astype(Z.dtype))


def resolve_kmeans_backend(backend, n_samples, n_clusters, device=None, *,
                           on_device=False):
    """The backend a k-means of ``n_samples`` rows into ``n_clusters`` runs with.

    A backend other than ``"auto"`` is returned as is. ``"auto"`` never depends on what
    is installed: ``"torch"`` when ``n_samples * n_clusters`` exceeds
    :data:`AUTO_TORCH_DISTANCES`, or when ``on_device`` is true and ``device`` is not
    the CPU (DeepCluster's per-epoch clustering keeps features on the GPU); else
    ``"sklearn"``.
    """
    if backend != "auto":
        return backend
    if n_samples * n_clusters > AUTO_TORCH_DISTANCES:
        return "torch"
    if on_device and device is not None and torch.device(device).type != "cpu":
        return "torch"
    return "sklearn"


def import_faiss():
    """The ``faiss`` module, or an ``ImportError`` that says how to install it."""
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            'kmeans_backend="faiss" needs the faiss package, which is not installed. '
            f'Install it with {_FAISS_HINT} (faiss-cpu), or use kmeans_backend="torch" '
            "(the built-in k-means) or \"sklearn\"."
        ) from exc
    return faiss


def cluster(Z, n_clusters, *, backend="sklearn", n_init=1, seed=0, max_iter=300, tol=1e-4,
            init="k-means++", device=None):
    """k-means of the rows of ``Z`` with one backend: ``(centers, labels, inertia)``.

    Parameters
    ----------
    Z : ndarray or tensor of shape (n_samples, n_features)
        The data (an embedding).
    n_clusters : int
        Number of clusters.
    backend : {"sklearn", "torch", "faiss", "auto"}, default="sklearn"
        ``"sklearn"``: :class:`sklearn.cluster.KMeans`. ``"torch"``:
        :func:`kmeans_torch` on ``Z``'s device (``device`` for an array). ``"faiss"``:
        ``faiss.Kmeans`` (float32, on the CPU; its initialisation is random rows and it
        runs ``max_iter`` iterations without a tolerance stop). ``"auto"``: see
        :func:`resolve_kmeans_backend`.
    n_init : int, default=1
        Runs from different starts; the one of lowest inertia is kept.
    seed : int, default=0
        Seeds the starts.
    max_iter : int, default=300
        Lloyd iterations per run.
    tol : float, default=1e-4
        Relative tolerance on the centres' movement (scikit-learn's meaning; not used
        by faiss).
    init : {"k-means++", "random"} or ndarray of shape (n_clusters, n_features)
        Start of each run: k-means++ seeding, distinct random rows, or these centres
        (one run). faiss always starts from random rows unless given centres.
    device : str, torch.device or None, default=None
        Where the torch backend runs an array ``Z`` (None: the CPU).

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        In ``Z``'s dtype.
    labels : ndarray of shape (n_samples,)
        int64, ``0..n_clusters-1``, every cluster non-empty as far as the data allows
        (enough distinct rows): empty clusters are reseeded, whatever the backend.
    inertia : float
        Sum of squared distances of the rows to their centre.
    """
    backend = resolve_kmeans_backend(backend, len(Z), n_clusters)
    if backend == "sklearn":
        Zn = Z.detach().cpu().numpy() if isinstance(Z, torch.Tensor) else np.asarray(Z)
        return kmeans(Zn, n_clusters, n_init=n_init, seed=seed, max_iter=max_iter,
                      tol=tol, init=init)
    if backend == "faiss":
        return _kmeans_faiss(Z, n_clusters, n_init=n_init, seed=seed, max_iter=max_iter,
                             init=init)
    if backend != "torch":
        raise ValueError(f"Unknown k-means backend {backend!r}; expected one of "
                         f"{', '.join(map(repr, KMEANS_BACKENDS))}.")
    Zt = Z if isinstance(Z, torch.Tensor) else torch.from_numpy(np.asarray(Z)).to(
        device or "cpu")
    if not isinstance(init, str):
        init = torch.as_tensor(np.asarray(init), device=Zt.device, dtype=Zt.dtype)
    with torch.inference_mode():
        centers, labels, inertia = kmeans_torch(
            Zt, n_clusters, generator=torch.Generator().manual_seed(seed), n_init=n_init,
            max_iter=max_iter, tol=tol, init=init)
    return centers.cpu().numpy(), labels.cpu().numpy(), inertia


def _kmeans_faiss(Z, n_clusters, *, n_init, seed, max_iter, init):
    """faiss's k-means; labels recomputed here (nearest centre, empty ones reseeded)."""
    faiss = import_faiss()
    Zt = Z.detach().cpu() if isinstance(Z, torch.Tensor) else torch.from_numpy(np.asarray(Z))
    X = np.ascontiguousarray(Zt.numpy(), dtype=np.float32)
    n, d = X.shape
    start = None if isinstance(init, str) else np.ascontiguousarray(init, dtype=np.float32)
    if start is not None:
        n_init = 1  # one start: one run
    # Train on every row: faiss subsamples to max_points_per_centroid * k rows otherwise
    # (and warns below min_points_per_centroid * k).
    km = faiss.Kmeans(d, n_clusters, niter=max_iter, nredo=n_init, seed=int(seed),
                      verbose=False, max_points_per_centroid=max(1, -(-n // n_clusters)),
                      min_points_per_centroid=1)
    km.train(X, init_centroids=start)
    centers = torch.from_numpy(np.asarray(km.centroids)).to(Zt.dtype)
    with torch.inference_mode():
        centers, labels, inertia = _finish(Zt, centers, _chunk_rows(n_clusters, Zt))
    return centers.numpy(), labels.numpy(), inertia


def kmeans(Z, n_clusters, *, n_init=20, seed=0, max_iter=300, tol=1e-4, init="k-means++"):
    """scikit-learn's k-means on an embedding (numpy array): ``(centers, labels, inertia)``.

    Centres are in ``Z``'s dtype; labels are int64 and every cluster is non-empty.
    ``init`` is ``"k-means++"``, ``"random"`` or an array of centres (then one run).
    """
    Z = np.asarray(Z)
    if not isinstance(init, str):
        init, n_init = np.asarray(init, dtype=Z.dtype), 1
    km = KMeans(n_clusters=n_clusters, init=init, n_init=n_init, max_iter=max_iter,
                tol=tol, random_state=seed)
    labels = km.fit_predict(Z).astype(np.int64)
    centers = km.cluster_centers_.astype(Z.dtype, copy=False)
    centers, labels = reseed_empty_clusters(Z, centers, labels)
    return centers, labels, float(km.inertia_)


def nearest_center(Z, centers, chunk_size=None):
    """Index of the nearest centre for each row of ``Z``.

    Tensors in, int64 tensor out. Exact squared distances, row by row, so a row's label
    never depends on the other rows of the batch. The ``(rows, n_clusters, n_features)``
    differences are formed ``chunk_size`` rows at a time (None: at most 4,096 rows and
    :data:`DISTANCE_BLOCK_BYTES`).
    """
    if chunk_size is None:
        per_row = max(1, centers.numel()) * centers.element_size()
        chunk_size = max(1, min(4096, DISTANCE_BLOCK_BYTES // per_row))
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


def refine_kmeans(Z, centers, *, max_iter=300, backend="sklearn"):
    """Lloyd's k-means on ``Z`` (array or tensor) started from ``centers`` (one run).

    Returns ``(centers, labels, inertia)`` like :func:`cluster` (with ``backend``), with
    every cluster non-empty; cluster ``j`` of the result continues cluster ``j`` of
    ``centers``.
    """
    centers = np.asarray(centers)
    return cluster(Z, len(centers), backend=backend, n_init=1, seed=0, max_iter=max_iter,
                   init=centers)


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
    the largest variance, so that directions without variance are not blown up; when no
    direction has variance, as for constant features, the axes are left unscaled). The
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
    floor = eps * evals.max()
    scale = (torch.rsqrt(evals + floor) if floor > 0 else torch.ones_like(evals))
    return mean.to(Z.dtype), (evecs * scale).T.contiguous().to(Z.dtype)


def whiten_normalize(Z, mean, components):
    """Rows of ``(Z - mean) @ components.T`` scaled to unit L2 norm (tensors).

    A row that whitens to zero stays zero.
    """
    P = (Z - mean) @ components.T
    return P / P.norm(dim=1, keepdim=True).clamp_min(torch.finfo(P.dtype).tiny)


def kmeans_torch(Z, n_clusters, *, generator, n_init=1, max_iter=20, tol=0.0,
                 init="random", chunk_size=None):
    """Lloyd's k-means in torch on ``Z``'s device: ``(centers, labels, inertia)``.

    Each of the ``n_init`` runs starts from ``init``: ``"random"`` (distinct random
    rows), ``"k-means++"`` (D² seeding) or a tensor of centres, the random draws coming
    from ``generator`` (a CPU generator, so that a seed gives the same starts on every
    device); the run of lowest inertia is kept. A run stops after ``max_iter``
    iterations, when no label changes, or when the squared movement of the centres is
    at most ``tol`` times the mean variance of the features (scikit-learn's rule).
    Centres of clusters that empty during a run stay where they are; at the end, empty
    clusters are reseeded as in :func:`reseed_empty_clusters` (onto the row farthest
    from its centre, taken from a cluster with more than one row), so every cluster is
    non-empty as far as the data allows.

    Distances are computed ``chunk_size`` rows at a time (None: as many as
    :data:`DISTANCE_BLOCK_BYTES` allows), so that memory beyond ``Z`` is
    O(``chunk_size * n_clusters``) plus a few numbers per row, never
    ``n_samples * n_clusters``.
    """
    n, k = len(Z), n_clusters
    if isinstance(init, torch.Tensor):
        n_init = 1  # one start: one run
    chunk = chunk_size or _chunk_rows(k, Z)
    threshold = tol * float(Z.var(0, unbiased=False).mean()) if tol > 0 and n > 1 else 0.0
    best = None
    for _ in range(n_init):
        if isinstance(init, torch.Tensor):
            centers = init.to(device=Z.device, dtype=Z.dtype).clone()
        elif init == "k-means++":
            centers = _kmeans_plusplus(Z, k, generator, chunk)
        else:
            idx = torch.randperm(n, generator=generator)[:k].to(Z.device)
            centers = Z[idx].clone()
        labels = None
        for _ in range(max_iter):
            new_labels, _ = _assign(Z, centers, chunk)
            if labels is not None and torch.equal(new_labels, labels):
                break  # converged: the centres are the means of these labels
            labels = new_labels
            counts = torch.bincount(labels, minlength=k)
            sums = torch.zeros_like(centers).index_add_(0, labels, Z)
            new_centers = torch.where((counts > 0)[:, None],
                                      sums / counts.clamp_min(1)[:, None].to(Z.dtype), centers)
            shift = float(((new_centers - centers) ** 2).sum())
            centers = new_centers
            if shift <= threshold:
                break
        result = _finish(Z, centers, chunk)
        if best is None or result[2] < best[2]:
            best = result
    return best


def _chunk_rows(n_clusters, Z):
    """Rows of ``Z`` per block: a block of distances to ``n_clusters`` centres (and a
    block of rows) fits in :data:`DISTANCE_BLOCK_BYTES`."""
    width = max(1, n_clusters, Z.shape[1])
    return max(1, DISTANCE_BLOCK_BYTES // (width * Z.element_size()))


def _assign(Z, centers, chunk_size):
    """Nearest centre of each row and the squared distance to it, ``chunk_size`` rows at
    a time, through ``||z||^2 + ||c||^2 - 2 z.c`` (a matrix product; one
    ``(chunk_size, n_clusters)`` block at a time)."""
    c2 = (centers * centers).sum(1)
    labels = torch.empty(len(Z), dtype=torch.int64, device=Z.device)
    dist = torch.empty(len(Z), dtype=Z.dtype, device=Z.device)
    # One block, reused: never two blocks alive at once.
    block = torch.empty((min(chunk_size, len(Z)), len(centers)), dtype=Z.dtype,
                        device=Z.device)
    for i in range(0, len(Z), chunk_size):
        zb = Z[i:i + chunk_size]
        d = torch.addmm(c2, zb, centers.T, beta=1, alpha=-2, out=block[:len(zb)])
        best, labels[i:i + chunk_size] = d.min(1)
        dist[i:i + chunk_size] = (best + _squared_norms(zb)).clamp_min(0)
    return labels, dist


def _kmeans_plusplus(Z, n_clusters, generator, chunk_size):
    """k-means++ seeding (Arthur and Vassilvitskii, 2007): each new centre is a row drawn
    with probability proportional to its squared distance to the nearest centre so far.

    Draws come from ``generator`` (CPU) as uniform numbers, so that a seed picks the same
    rows on every device. Memory: the distances, one number per row.
    """
    n = len(Z)
    wide = torch.float32 if Z.device.type == "mps" else torch.float64
    centers = torch.empty((n_clusters, Z.shape[1]), dtype=Z.dtype, device=Z.device)
    first = int(torch.randint(n, (1,), generator=generator))
    centers[0] = Z[first]
    closest = _row_distances(Z, centers[0], chunk_size)
    for j in range(1, n_clusters):
        cum = torch.cumsum(closest.to(wide), 0)
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        if float(cum[-1]) > 0:
            target = torch.tensor(u * float(cum[-1]), dtype=wide, device=Z.device)
            i = min(int(torch.searchsorted(cum, target, right=True)), n - 1)
        else:  # every row sits on a centre already: any row
            i = min(int(u * n), n - 1)
        centers[j] = Z[i]
        torch.minimum(closest, _row_distances(Z, centers[j], chunk_size), out=closest)
    return centers


def _row_distances(Z, center, chunk_size):
    """Squared distance of every row of ``Z`` to one ``center``, in blocks of rows."""
    return torch.cat([_squared_norms(Z[i:i + chunk_size] - center)
                      for i in range(0, len(Z), chunk_size)])


def _squared_norms(Z):
    """Squared L2 norm of each row (without a temporary of ``Z``'s size)."""
    return torch.linalg.vector_norm(Z, dim=1).square_()


def _finish(Z, centers, chunk_size):
    """Nearest-centre labels with empty clusters reseeded, and the inertia (tensors)."""
    labels, dist = _assign(Z, centers, chunk_size)
    centers, labels, moved = _reseed_empty_torch(Z, centers, labels, dist)
    if len(moved):
        dist[moved] = 0  # a reseeded centre sits on the row that joined it
    return centers, labels, float(dist.sum())


def _reseed_empty_torch(Z, centers, labels, dist):
    """:func:`reseed_empty_clusters` for tensors; ``dist`` holds each row's squared
    distance to its centre. Returns ``(centers, labels, moved rows)``."""
    k = len(centers)
    counts = torch.bincount(labels, minlength=k)
    empty = torch.nonzero(counts == 0).flatten().tolist()
    if not empty:
        return centers, labels, []
    centers, labels = centers.clone(), labels.clone()
    order = torch.argsort(dist, descending=True, stable=True).cpu().numpy()
    counts, owner = counts.cpu().numpy(), labels.cpu().numpy()
    taken = set()  # the rows moved so far, by value: never two equal rows
    moved = []
    pos = 0
    for j in empty:
        while pos < len(order):
            i = int(order[pos])
            pos += 1
            # (+ 0 makes -0.0 and 0.0 one value, as == does)
            row = (Z[i] + 0).cpu().numpy().tobytes()
            if counts[owner[i]] > 1 and row not in taken:
                break
        else:  # fewer distinct rows than clusters
            break
        counts[owner[i]] -= 1
        counts[j] += 1
        owner[i] = j
        labels[i] = j
        centers[j] = Z[i]
        taken.add(row)
        moved.append(i)
    return centers, labels, moved

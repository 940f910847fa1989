"""k-means helpers: labels 0..k-1, every cluster non-empty, exact nearest-centre assignment;
the k-means backends (``kmeans_backend``)."""

import sys
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

import skdeepcluster._kmeans as kmeans_module
from _instances import TINY, tiny_autoencoder, tiny_clusterers
from skdeepcluster import DCNClusterer, DECClusterer, VaDEClusterer
from skdeepcluster._base import SMALL_DATA
from skdeepcluster._checkpoint import fingerprint
from skdeepcluster._pretraining import resolve_init
from skdeepcluster._kmeans import (
    DISTANCE_BLOCK_BYTES,
    WARD_MAX_ROWS,
    _assign,
    _chunk_rows,
    assign_nonempty,
    cluster,
    kmeans,
    kmeans_torch,
    nearest_center,
    refine_with_gaussian_mixture,
    reseed_empty_clusters,
    resolve_kmeans_backend,
    ward_clustering,
)

SETTINGS = settings(max_examples=30, deadline=None)


def _brute_force_labels(Z, C):
    d2 = ((Z[:, None, :] - C[None, :, :]) ** 2).sum(-1)
    return d2.argmin(1), d2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_kmeans_labels_are_contiguous_and_nonempty(dtype, k):
    Z, _ = make_blobs(n_samples=60, centers=3, n_features=2, random_state=0)
    Z = Z.astype(dtype)
    centers, labels, inertia = kmeans(Z, k, n_init=2, seed=0)
    assert centers.shape == (k, 2) and centers.dtype == dtype
    assert labels.dtype == np.int64 and labels.shape == (60,)
    assert set(np.unique(labels)) == set(range(k))
    assert np.bincount(labels, minlength=k).min() > 0
    assert inertia >= 0
    # Labels are the nearest centres (k-means converged on well separated blobs).
    np.testing.assert_array_equal(labels, _brute_force_labels(Z, centers)[0])


def test_kmeans_is_seeded():
    Z, _ = make_blobs(n_samples=80, centers=4, n_features=3, random_state=1)
    a = kmeans(Z, 4, n_init=1, seed=3)
    b = kmeans(Z, 4, n_init=1, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_kmeans_with_duplicate_points_still_fills_every_cluster():
    # 3 distinct points, 3 clusters, many duplicates: every cluster still non-empty.
    Z = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 5, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, labels, _ = kmeans(Z, 3, n_init=2, seed=0)
    assert np.bincount(labels, minlength=3).min() > 0


def _empty_cluster_case():
    Z = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [9.0, 9.0]])
    # Centre 2 is far from everything: it gets no point.
    centers = np.array([[0.0, 0.0], [6.0, 6.0], [100.0, -100.0]])
    labels = _brute_force_labels(Z, centers)[0]
    assert np.bincount(labels, minlength=3)[2] == 0
    return Z, centers, labels


def test_reseed_empty_clusters_fills_the_empty_one_and_leaves_inputs_alone():
    Z, centers, labels = _empty_cluster_case()
    Z0, c0, l0 = Z.copy(), centers.copy(), labels.copy()
    new_centers, new_labels = reseed_empty_clusters(Z, centers, labels)
    np.testing.assert_array_equal(Z, Z0)
    np.testing.assert_array_equal(centers, c0)
    np.testing.assert_array_equal(labels, l0)
    counts = np.bincount(new_labels, minlength=3)
    assert counts.min() > 0 and counts.sum() == len(Z)
    # The empty centre moved onto the point that joined it: the farthest from its centre.
    moved = np.flatnonzero(new_labels == 2)
    assert len(moved) == 1
    np.testing.assert_array_equal(new_centers[2], Z[moved[0]])
    np.testing.assert_array_equal(Z[moved[0]], [9.0, 9.0])
    # Non-empty centres are untouched.
    np.testing.assert_array_equal(new_centers[:2], c0[:2])


def test_reseed_empty_clusters_is_a_noop_without_empty_clusters():
    Z, centers, _ = _empty_cluster_case()
    labels = np.array([0, 0, 1, 1, 2, 2])
    new_centers, new_labels = reseed_empty_clusters(Z, centers, labels)
    np.testing.assert_array_equal(new_centers, centers)
    np.testing.assert_array_equal(new_labels, labels)


def test_reseed_never_empties_a_singleton_cluster():
    Z = np.array([[0.0], [0.1], [0.2], [50.0]])
    centers = np.array([[0.1], [50.0], [-99.0], [-98.0]])
    labels = np.array([0, 0, 0, 1])
    _, new_labels = reseed_empty_clusters(Z, centers, labels)
    assert np.bincount(new_labels, minlength=4).min() > 0
    assert new_labels[3] == 1  # the singleton (and farthest-from-nothing) point stayed


def test_assign_nonempty_fills_empty_clusters_and_leaves_inputs_alone():
    Z, centers, _ = _empty_cluster_case()
    Z0, c0 = Z.copy(), centers.copy()
    new_centers, labels = assign_nonempty(Z, centers)
    np.testing.assert_array_equal(Z, Z0)
    np.testing.assert_array_equal(centers, c0)
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=3).min() > 0
    # The labels are the nearest (returned) centres.
    np.testing.assert_array_equal(labels, _brute_force_labels(Z, new_centers)[0])


@st.composite
def data_and_centers(draw, integer_valued=False):
    n = draw(st.integers(1, 30))
    k = draw(st.integers(1, 6))
    d = draw(st.integers(1, 4))
    if integer_valued:
        # Exact arithmetic: ties are real ties, resolved to the first index by both sides.
        elements = st.integers(-5, 5).map(float)
    else:
        elements = st.floats(-100, 100, allow_nan=False, width=64)
    Z = draw(arrays(np.float64, (n, d), elements=elements))
    C = draw(arrays(np.float64, (k, d), elements=elements))
    return Z, C


@SETTINGS
@given(data_and_centers(integer_valued=True))
def test_nearest_center_matches_brute_force_exactly(zc):
    Z, C = zc
    got = nearest_center(torch.from_numpy(Z), torch.from_numpy(C))
    assert got.dtype == torch.int64
    np.testing.assert_array_equal(got.numpy(), _brute_force_labels(Z, C)[0])


@SETTINGS
@given(data_and_centers(), st.integers(1, 7))
def test_nearest_center_is_nearest_and_independent_of_chunking(zc, chunk_size):
    Z, C = zc
    got = nearest_center(torch.from_numpy(Z), torch.from_numpy(C)).numpy()
    _, d2 = _brute_force_labels(Z, C)
    np.testing.assert_allclose(d2[np.arange(len(Z)), got], d2.min(1), rtol=1e-12, atol=1e-9)
    chunked = nearest_center(torch.from_numpy(Z), torch.from_numpy(C), chunk_size=chunk_size)
    np.testing.assert_array_equal(chunked.numpy(), got)


@SETTINGS
@given(data_and_centers(integer_valued=True))
def test_assign_nonempty_properties(zc):
    Z, C = zc
    Z0, C0 = Z.copy(), C.copy()
    centers, labels = assign_nonempty(Z, C)
    np.testing.assert_array_equal(Z, Z0)
    np.testing.assert_array_equal(C, C0)
    assert centers.shape == C.shape
    assert labels.min() >= 0 and labels.max() < len(C)
    n_distinct = len(np.unique(Z, axis=0))
    if n_distinct >= len(C):
        # Enough distinct rows: every cluster holds at least one row.
        assert np.bincount(labels, minlength=len(C)).min() > 0
    # Each row is assigned to a nearest returned centre (documented contract).
    _, d2 = _brute_force_labels(Z, centers)
    np.testing.assert_allclose(d2[np.arange(len(Z)), labels], d2.min(1))


# -- backends ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs():
    Z, y = make_blobs(n_samples=300, centers=5, n_features=4, cluster_std=0.5,
                      random_state=0)
    return Z.astype(np.float32), y


def _check_result(Z, k, centers, labels, inertia):
    assert centers.shape == (k, Z.shape[1]) and centers.dtype == Z.dtype
    assert isinstance(labels, np.ndarray) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=k).min() > 0 and labels.max() < k
    d2 = ((Z - centers[labels]) ** 2).sum()
    assert inertia == pytest.approx(d2, rel=1e-4)


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_backends_agree_with_sklearn_on_well_separated_blobs(blobs, backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    Z, y = blobs
    reference = cluster(Z, 5, backend="sklearn", n_init=3, seed=0)
    assert adjusted_rand_score(y, reference[1]) == 1.0
    result = cluster(Z, 5, backend=backend, n_init=3, seed=0)
    _check_result(Z, 5, *result)
    assert adjusted_rand_score(reference[1], result[1]) == 1.0
    assert result[2] == pytest.approx(reference[2], rel=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_backend_takes_arrays_and_tensors_and_keeps_the_dtype(blobs, dtype):
    Z = blobs[0].astype(dtype)
    from_array = cluster(Z, 5, backend="torch", n_init=2, seed=1)
    from_tensor = cluster(torch.from_numpy(Z), 5, backend="torch", n_init=2, seed=1)
    _check_result(Z, 5, *from_array)
    np.testing.assert_array_equal(from_array[0], from_tensor[0])
    np.testing.assert_array_equal(from_array[1], from_tensor[1])


def test_faiss_backend_without_faiss_is_a_clear_error(blobs, monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # as if it were not installed
    message = r'kmeans_backend="faiss".*pip install "skdeepcluster\[faiss\]"'
    with pytest.raises(ImportError, match=message):
        cluster(blobs[0], 5, backend="faiss")

    def trained(*args, **kwargs):
        raise AssertionError("the fit trained before reporting the missing faiss")

    # At fit, before any training.
    monkeypatch.setattr(DECClusterer, "_pretrained_embedding", trained)
    est = DECClusterer(n_clusters=3, kmeans_backend="faiss", device="cpu")
    with pytest.raises(ImportError, match=message):
        est.fit(blobs[0])
    assert not hasattr(est, "kmeans_backend_")


def test_auto_backend_rule():
    assert resolve_kmeans_backend("auto", 1000, 10) == "sklearn"
    assert resolve_kmeans_backend("auto", 10**6, 100) == "sklearn"  # 10**8: not above
    assert resolve_kmeans_backend("auto", 10**6, 101) == "torch"
    assert resolve_kmeans_backend("auto", 1000, 10, "cuda", on_device=True) == "torch"
    assert resolve_kmeans_backend("auto", 1000, 10, "cpu", on_device=True) == "sklearn"
    assert resolve_kmeans_backend("auto", 1000, 10, "cuda") == "sklearn"
    for backend in ("sklearn", "torch", "faiss"):
        assert resolve_kmeans_backend(backend, 10**7, 10**4) == backend


def test_auto_backend_does_not_depend_on_faiss(monkeypatch):
    resolved = resolve_kmeans_backend("auto", 10**6, 10**4)
    monkeypatch.setitem(sys.modules, "faiss", None)
    assert resolve_kmeans_backend("auto", 10**6, 10**4) == resolved == "torch"


def _separate_starts():
    # Eight blobs: random starts end in different local minima.
    Z, _ = make_blobs(n_samples=240, centers=8, n_features=2, cluster_std=1.0,
                      random_state=3)
    return torch.from_numpy(Z)


def test_torch_n_init_keeps_the_run_of_lowest_inertia():
    Z = _separate_starts()
    generator = torch.Generator().manual_seed(0)
    runs = [kmeans_torch(Z, 8, generator=generator, n_init=1, init="random", max_iter=50)
            for _ in range(6)]
    inertias = [r[2] for r in runs]
    assert len(set(np.round(inertias, 6))) > 1  # the runs differ
    best = kmeans_torch(Z, 8, generator=torch.Generator().manual_seed(0), n_init=6,
                        init="random", max_iter=50)
    assert best[2] == min(inertias)
    assert torch.equal(best[1], runs[int(np.argmin(inertias))][1])


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_torch_backend_is_reproducible_from_the_seed(init):
    Z = _separate_starts()
    a = cluster(Z, 8, backend="torch", n_init=2, seed=7, init=init)
    b = cluster(Z, 8, backend="torch", n_init=2, seed=7, init=init)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_torch_backend_reseeds_empty_clusters():
    # Duplicated points: as many clusters as distinct rows, every one non-empty.
    Z = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 5, axis=0)
    for init in ("k-means++", "random"):
        for seed in range(5):
            labels = cluster(Z, 3, backend="torch", n_init=1, seed=seed, init=init)[1]
            assert np.bincount(labels, minlength=3).min() > 0
    # More clusters than distinct rows: no error, labels in range.
    labels = cluster(Z, 5, backend="torch", seed=0)[1]
    assert labels.min() >= 0 and labels.max() < 5
    # A start whose third centre attracts nothing: reseeded onto the farthest row.
    Z, centers, _ = _empty_cluster_case()
    new_centers, labels, _ = cluster(Z, 3, backend="torch", init=centers, max_iter=0)
    assert np.bincount(labels, minlength=3).min() > 0
    np.testing.assert_array_equal(new_centers[2], [9.0, 9.0])
    assert np.flatnonzero(labels == 2).tolist() == [5]


def test_torch_distances_in_small_chunks_equal_one_block():
    Z, _ = make_blobs(n_samples=103, centers=4, n_features=3, random_state=2)
    Z = torch.from_numpy(Z)
    C = Z[:7].clone() + 0.5
    labels, dist = _assign(Z, C, chunk_size=10**6)
    d2 = ((Z[:, None, :] - C[None]) ** 2).sum(-1)
    assert torch.equal(labels, d2.argmin(1))
    torch.testing.assert_close(dist, d2.min(1).values)
    for chunk in (1, 3, 10):
        chunked = _assign(Z, C, chunk_size=chunk)
        assert torch.equal(chunked[0], labels)
        torch.testing.assert_close(chunked[1], dist)
        a = kmeans_torch(Z, 4, generator=torch.Generator().manual_seed(0), n_init=2,
                         init="k-means++", chunk_size=chunk)
        b = kmeans_torch(Z, 4, generator=torch.Generator().manual_seed(0), n_init=2,
                         init="k-means++")
        assert torch.equal(a[1], b[1])
        torch.testing.assert_close(a[0], b[0])


def test_distance_blocks_stay_within_the_memory_budget():
    # DeepCluster's scale: 1,000,000 rows into 10,000 clusters.
    Z = torch.empty((0, 64))
    rows = _chunk_rows(10_000, Z)
    assert 1000 < rows and rows * 10_000 * 4 <= DISTANCE_BLOCK_BYTES <= 256 * 2**20
    assert _chunk_rows(10, torch.empty((0, 10_000))) * 10_000 * 4 <= DISTANCE_BLOCK_BYTES


# -- estimators ------------------------------------------------------------------------------


@pytest.mark.parametrize("est", tiny_clusterers(kmeans_backend="torch"),
                         ids=lambda est: type(est).__name__)
def test_every_estimator_fits_with_the_torch_backend(digits, est, monkeypatch):
    calls = []
    original = kmeans_module.kmeans_torch

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    def no_sklearn(*args, **kwargs):
        raise AssertionError("scikit-learn's k-means ran")

    monkeypatch.setattr(kmeans_module, "kmeans_torch", counting)
    monkeypatch.setattr(kmeans_module, "kmeans", no_sklearn)
    if "init" in est.get_params():
        est.set_params(init="kmeans")  # "auto" is Ward on these (augmented) images
    X = digits[0][:120]
    est.fit(X)
    assert calls and est.kmeans_backend_ == "torch"
    k = est.n_clusters
    assert set(np.unique(est.labels_)) <= set(range(k))
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_an_estimator_fits_with_the_faiss_backend(digits):
    pytest.importorskip("faiss")
    X = digits[0][:120]
    est = tiny_clusterers(kmeans_backend="faiss")[2].fit(X)  # DCN: initial and final k-means
    assert est.kmeans_backend_ == "faiss"
    assert np.bincount(est.labels_, minlength=3).min() > 0


def test_auto_backend_is_recorded_and_switches_to_torch_when_large(digits, monkeypatch):
    X = digits[0][:120]
    fast = dict(hidden_dims=(16,), latent_dim=3, pretrain_epochs=2, max_epochs=1,
                batch_size=16, n_init=2, device="cpu", random_state=0)
    assert DECClusterer(n_clusters=3, **fast).fit(X).kmeans_backend_ == "sklearn"
    monkeypatch.setattr(kmeans_module, "AUTO_TORCH_DISTANCES", 120 * 3 - 1)
    assert DECClusterer(n_clusters=3, **fast).fit(X).kmeans_backend_ == "torch"


def test_kmeans_backend_is_validated_and_fingerprinted(digits):
    X = digits[0][:60]
    est = DECClusterer(n_clusters=3, kmeans_backend="cuml")
    with pytest.raises(ValueError, match="kmeans_backend"):
        est.fit(X)
    # It changes results, so a checkpoint of one backend is never resumed by another.
    prints = {fingerprint(DECClusterer(kmeans_backend=b), X)
              for b in ("auto", "sklearn", "torch", "faiss")}
    assert len(prints) == 4


# -- init: k-means, refined by a Gaussian mixture ---------------------------------------------


def test_resolve_init():
    assert resolve_init("auto", SMALL_DATA - 1, 10) == "kmeans"  # full covariances overfit
    assert resolve_init("auto", SMALL_DATA, 10) == "gmm"
    assert resolve_init("auto", 10**6, 100) == "gmm"  # 10**8 distances: not above
    assert resolve_init("auto", 10**6, 101) == "kmeans"  # EM over every row too slow
    # An augmented pretraining's embedding: Ward while it links every row, then k-means.
    assert resolve_init("auto", 100, 10, augmented=True) == "ward"
    assert resolve_init("auto", SMALL_DATA, 10, augmented=True) == "ward"
    assert resolve_init("auto", WARD_MAX_ROWS, 10, augmented=True) == "ward"
    assert resolve_init("auto", WARD_MAX_ROWS + 1, 10, augmented=True) == "kmeans"
    assert resolve_init("auto", 10**6, 100, augmented=True) == "kmeans"
    for init in ("kmeans", "gmm", "ward"):
        assert resolve_init(init, 10, 10**9) == init
        assert resolve_init(init, 10, 10**9, augmented=True) == init


def _wide_and_narrow(seed=0):
    """A wide cluster beside a narrow one: k-means moves their boundary into the wide one."""
    rng = np.random.default_rng(seed)
    wide = rng.normal(0.0, 2.0, size=(2000, 2))
    narrow = rng.normal(0.0, 0.3, size=(200, 2)) + [5.0, 0.0]
    return np.vstack([wide, narrow]), np.repeat([0, 1], [2000, 200])


def test_gaussian_mixture_refinement_recovers_clusters_kmeans_cannot():
    Z, y = _wide_and_narrow()
    centers, labels, _ = cluster(Z, 2, n_init=5, seed=0)
    refined_centers, refined = refine_with_gaussian_mixture(Z, centers, labels, seed=0)
    assert refined_centers.shape == centers.shape and refined_centers.dtype == centers.dtype
    assert adjusted_rand_score(y, labels) < 0.8
    assert adjusted_rand_score(y, refined) > adjusted_rand_score(y, labels) + 0.1
    # The means are those of the mixture's components: near the true centres.
    np.testing.assert_allclose(np.sort(refined_centers[:, 0]), [0.0, 5.0], atol=0.3)


def _rows_seen(monkeypatch, cls, method):
    """Patch ``cls.method(self, Z, y=None)`` to record ``len(Z)`` of each call in the
    returned list before running it."""
    seen = []
    original = getattr(cls, method)

    def spy(self, Z, y=None):
        seen.append(len(Z))
        return original(self, Z, y)

    monkeypatch.setattr(cls, method, spy)
    return seen


def test_gaussian_mixture_is_fitted_on_a_bounded_subset_of_large_data(monkeypatch):
    from sklearn.mixture import GaussianMixture

    fitted_rows = _rows_seen(monkeypatch, GaussianMixture, "fit")
    monkeypatch.setattr(kmeans_module, "GMM_MAX_ROWS", 500)
    Z, y = _wide_and_narrow()
    centers, labels, _ = cluster(Z, 2, n_init=5, seed=0)
    _, refined = refine_with_gaussian_mixture(Z, centers, labels, seed=0)
    assert fitted_rows == [500] and refined.shape == (len(Z),)
    assert adjusted_rand_score(y, refined) > adjusted_rand_score(y, labels) + 0.1


@pytest.mark.parametrize("failure", ["empty component", "singular covariance"])
def test_gaussian_mixture_refinement_keeps_kmeans_when_em_fails(failure, monkeypatch):
    from sklearn.mixture import GaussianMixture

    if failure == "empty component":
        monkeypatch.setattr(GaussianMixture, "predict",
                            lambda self, Z: np.zeros(len(Z), dtype=np.int64))
    else:
        def broken(self, Z, y=None):
            raise ValueError("Fitting the mixture model failed because some components "
                             "have ill-defined empirical covariance")

        monkeypatch.setattr(GaussianMixture, "fit", broken)
    Z, _ = _wide_and_narrow()
    centers, labels, _ = cluster(Z, 2, n_init=1, seed=0)
    out_centers, out_labels = refine_with_gaussian_mixture(Z, centers, labels, seed=0)
    assert out_centers is centers and out_labels is labels


# -- init="ward": Ward's linkage, on a bounded subset of large data --------------------------


def test_ward_clustering_starts_from_the_means_of_wards_clusters():
    from sklearn.cluster import AgglomerativeClustering

    Z, _ = make_blobs(600, n_features=4, centers=5, cluster_std=2.0, random_state=0)
    Z = Z.astype(np.float32)
    centers, labels = ward_clustering(Z, 5, seed=0)
    merged = AgglomerativeClustering(5, linkage="ward").fit_predict(Z.astype(np.float64))
    means = np.stack([Z[merged == j].astype(np.float64).mean(0) for j in range(5)])
    assert centers.dtype == np.float32 and labels.shape == (600,)
    np.testing.assert_allclose(centers, means, rtol=1e-5, atol=1e-5)
    # Every row is in its nearest centre's cluster (not necessarily Ward's own cluster).
    dist = ((Z[:, None, :] - centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, dist.argmin(1))
    assert adjusted_rand_score(merged, labels) > 0.9
    # Integer rows: the centres are means, not truncated to integers.
    int_centers, _ = ward_clustering(np.round(Z * 10).astype(np.int64), 5, seed=0)
    assert int_centers.dtype == np.float64 and np.any(int_centers % 1 != 0)


def test_ward_clustering_links_a_bounded_subset_of_large_data(monkeypatch):
    from sklearn.cluster import AgglomerativeClustering

    linked_rows = _rows_seen(monkeypatch, AgglomerativeClustering, "fit_predict")
    monkeypatch.setattr(kmeans_module, "WARD_MAX_ROWS", 300)
    Z, y = make_blobs(2000, n_features=3, centers=4, random_state=1)
    centers, labels = ward_clustering(Z, 4, seed=0)
    again, _ = ward_clustering(Z, 4, seed=0)
    other, _ = ward_clustering(Z, 4, seed=1)
    assert linked_rows == [300, 300, 300] and labels.shape == (2000,)
    assert np.bincount(labels, minlength=4).min() > 0
    assert adjusted_rand_score(y, labels) > 0.95  # well separated: the subset suffices
    np.testing.assert_array_equal(centers, again)  # the subset is drawn from the seed
    assert not np.array_equal(centers, other)
    # More clusters than WARD_MAX_ROWS: a clear error, before any linkage.
    linked_rows.clear()
    with pytest.raises(ValueError, match="n_clusters=400 clusters"):
        ward_clustering(Z, 400, seed=0)
    assert linked_rows == []


def test_init_ward_refuses_more_clusters_than_it_links_before_pretraining(monkeypatch):
    monkeypatch.setattr(kmeans_module, "WARD_MAX_ROWS", 5)
    X = np.random.default_rng(0).random((40, 4), dtype=np.float32)
    for cls in (DECClusterer, DCNClusterer, VaDEClusterer):
        est = cls(n_clusters=6, init="ward", pretrain_epochs=1, max_epochs=1, **TINY)
        with pytest.raises(ValueError, match='init="ward" links at most 5 rows'):
            est.fit(X)
        assert not hasattr(est, "autoencoder_") and not hasattr(est, "labels_")
        # the same data with a k-means start fits
        est.set_params(init="kmeans").fit(X)


@pytest.fixture
def start_calls(monkeypatch):
    """A list that gets the name of each start function the clusterers call:
    ``refine_with_gaussian_mixture`` or ``ward_clustering``."""
    import skdeepcluster._pretraining as pretraining

    calls = []

    def spy(name):
        original = getattr(pretraining, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(pretraining, name, wrapper)

    spy("refine_with_gaussian_mixture")
    spy("ward_clustering")
    return calls


_RAN = {"kmeans": [], "gmm": ["refine_with_gaussian_mixture"], "ward": ["ward_clustering"]}


@pytest.mark.parametrize("init, resolved", [("kmeans", "kmeans"), ("gmm", "gmm"),
                                            ("ward", "ward"), ("auto", "ward")])
@pytest.mark.parametrize("cls", [DECClusterer, DCNClusterer, VaDEClusterer],
                         ids=lambda cls: cls.__name__)
def test_init_decides_how_the_embedding_is_first_clustered(digits, start_calls, init,
                                                           resolved, cls):
    est = cls(n_clusters=3, init=init, n_init=2, pretrain_epochs=2, max_epochs=1,
              batch_size=16, **TINY)
    X = digits[0][:120]  # 8 x 8 images, augmented pretraining: "auto" is Ward
    est.fit(X)
    assert start_calls == _RAN[resolved]
    assert est.init_ == resolved
    np.testing.assert_array_equal(est.predict(X), est.labels_)


@pytest.mark.parametrize("cls", [DECClusterer, DCNClusterer, VaDEClusterer],
                         ids=lambda cls: cls.__name__)
def test_init_auto_is_ward_after_an_augmented_pretraining(cls, start_calls):
    # SMALL_DATA rows of 8 x 8 values in [0, 1]: images, large enough for the mixture.
    X = np.random.default_rng(0).random((SMALL_DATA, 64), dtype=np.float32)
    kw = dict(n_clusters=3, n_init=1, pretrain_epochs=1, max_epochs=1, batch_size=1024,
              **TINY)
    cases = [
        ({}, "ward"),  # image rows, augment=True: augmented
        ({"augment": False}, "gmm"),
        ({"image_shape": None}, "gmm"),  # not images: nothing to augment
        ({"autoencoder": tiny_autoencoder(augment=False, max_epochs=1)}, "gmm"),
        ({"autoencoder": tiny_autoencoder(max_epochs=1).fit(X[:200])}, "ward"),
        ({"autoencoder": tiny_autoencoder(augment=False, max_epochs=1).fit(X[:200])}, "gmm"),
    ]
    for params, expected in cases:
        start_calls.clear()
        est = cls(**kw, **params).fit(X)
        assert est.init_ == expected, params
        assert start_calls == _RAN[expected], params
    # Not in [0, 1]: not images under the "auto" rule, so not augmented.
    assert cls(**kw).fit(X * 2 - 1).init_ == "gmm"


def test_init_is_validated(digits):
    with pytest.raises(ValueError, match="'init' parameter"):
        DECClusterer(n_clusters=3, init="kmeans++").fit(digits[0][:60])

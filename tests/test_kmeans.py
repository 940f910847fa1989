"""k-means helpers: labels 0..k-1, every cluster non-empty, exact nearest-centre assignment."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import make_blobs

from skdeepcluster._kmeans import assign_nonempty, kmeans, nearest_center, reseed_empty_clusters

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

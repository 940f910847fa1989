import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skdeepcluster.metrics import (
    SCORERS,
    accuracy_scorer,
    ari_scorer,
    clustering_accuracy_score,
    get_scorer,
    nmi_scorer,
)

# --------------------------------------------------------------------------
# Plain unit tests


def test_swapped_labels_perfect():
    assert clustering_accuracy_score([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0


def test_returns_python_float():
    score = clustering_accuracy_score(np.array([0, 1, 1]), np.array([1, 0, 0]))
    assert type(score) is float


def test_simple_partial_match():
    # best matching 0->0, 1->1 gives 3 of 4 correct
    assert clustering_accuracy_score([0, 0, 1, 1], [0, 0, 0, 1]) == 0.75


def test_more_clusters_than_classes():
    # 3 clusters vs 2 classes: contingency rows=classes [[2, 1, 0], [0, 0, 3]]
    # best one-to-one matching: class 0 <-> cluster 0 (2), class 1 <-> cluster 2
    # (3); cluster 1 unmatched -> wrong. 5 / 6.
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 1, 2, 2, 2]
    assert clustering_accuracy_score(y_true, y_pred) == pytest.approx(5 / 6)
    # symmetric: 2 clusters vs 3 classes
    assert clustering_accuracy_score(y_pred, y_true) == pytest.approx(5 / 6)


def test_one_to_one_matching_not_many_to_one():
    # Many-to-one (majority vote per cluster) would give 1.0 here; the
    # Hungarian one-to-one matching must only give 0.5.
    y_true = [0, 0, 0, 0]
    y_pred = [0, 0, 1, 1]
    assert clustering_accuracy_score(y_true, y_pred) == 0.5


def test_hungarian_beats_greedy():
    # Greedy on the largest cell (class 0 <-> cluster 0, 3) would then pair
    # class 1 <-> cluster 1 (0) for 3/7; the optimum is 0<->1 and 1<->0: 2+2.
    y_true = [0, 0, 0, 0, 0, 1, 1]
    y_pred = [0, 0, 0, 1, 1, 0, 0]
    assert clustering_accuracy_score(y_true, y_pred) == pytest.approx(4 / 7)


def test_string_and_noncontiguous_labels():
    y_true = ["cat", "cat", "dog", "dog", "bird"]
    y_pred = [10, 10, -3, 7, 7]
    # contingency: bird->{7:1}, cat->{10:2}, dog->{-3:1, 7:1}
    # best: cat<->10 (2), bird<->7 (1) or dog<->7 (1), dog<->-3 (1) => 2+1+1=4
    assert clustering_accuracy_score(y_true, y_pred) == pytest.approx(4 / 5)
    assert clustering_accuracy_score(["a", "b"], ["b", "a"]) == 1.0


def test_all_wrong_is_bounded_below():
    # 4 classes, 1 cluster: best is 1/4
    assert clustering_accuracy_score([0, 1, 2, 3], [5, 5, 5, 5]) == 0.25


def test_empty_labelings():
    assert clustering_accuracy_score([], []) == 1.0


def test_different_lengths_raise():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clustering_accuracy_score([0, 1, 1], [0, 1])


def test_2d_input_raises():
    with pytest.raises(ValueError, match="1D"):
        clustering_accuracy_score(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="1D"):
        clustering_accuracy_score(np.zeros(3), np.zeros((3, 2)))


# --------------------------------------------------------------------------
# Property-based tests

labels_pairs = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
    )
)


@settings(max_examples=50, deadline=None)
@given(labels_pairs, st.randoms(use_true_random=False))
def test_invariant_to_renaming_predicted_labels(pair, rnd):
    y_true, y_pred = pair
    names = list(range(6))
    new_names = rnd.sample(range(100, 200), 6)
    mapping = dict(zip(names, new_names))
    renamed = [mapping[c] for c in y_pred]
    assert clustering_accuracy_score(y_true, renamed) == pytest.approx(
        clustering_accuracy_score(y_true, y_pred)
    )


@settings(max_examples=50, deadline=None)
@given(labels_pairs)
def test_in_unit_interval(pair):
    y_true, y_pred = pair
    score = clustering_accuracy_score(y_true, y_pred)
    assert 0.0 <= score <= 1.0
    # at least one sample can always be matched correctly
    assert score >= 1.0 / len(y_true) - 1e-12


@settings(max_examples=50, deadline=None)
@given(labels_pairs, st.randoms(use_true_random=False))
def test_bijective_relabelling_is_perfect(pair, rnd):
    y_true, _ = pair
    new_names = [f"c{i}" for i in rnd.sample(range(50), 6)]
    relabelled = [new_names[c] for c in y_true]
    assert clustering_accuracy_score(y_true, relabelled) == 1.0


@settings(max_examples=50, deadline=None)
@given(labels_pairs)
def test_single_cluster_equals_majority_fraction(pair):
    y_true, _ = pair
    majority = np.bincount(y_true).max() / len(y_true)
    single = [7] * len(y_true)
    assert clustering_accuracy_score(y_true, single) == pytest.approx(majority)


@settings(max_examples=50, deadline=None)
@given(labels_pairs)
def test_symmetric(pair):
    y_true, y_pred = pair
    assert clustering_accuracy_score(y_true, y_pred) == pytest.approx(
        clustering_accuracy_score(y_pred, y_true)
    )


@settings(max_examples=50, deadline=None)
@given(labels_pairs)
def test_matches_brute_force(pair):
    # exhaustive search over one-to-one matchings of clusters to classes
    from itertools import permutations

    y_true, y_pred = np.asarray(pair[0]), np.asarray(pair[1])
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    best = 0
    small, large = (clusters, classes) if len(clusters) <= len(classes) else (
        classes,
        clusters,
    )
    for perm in permutations(large, len(small)):
        if len(clusters) <= len(classes):
            hits = sum(np.sum((y_pred == c) & (y_true == k)) for c, k in zip(small, perm))
        else:
            hits = sum(np.sum((y_true == k) & (y_pred == c)) for k, c in zip(small, perm))
        best = max(best, hits)
    assert clustering_accuracy_score(y_true, y_pred) == pytest.approx(
        best / len(y_true)
    )


# --------------------------------------------------------------------------
# Scorers


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=60, centers=3, cluster_std=3.0, random_state=0)


def _nmi(a, b):
    return normalized_mutual_info_score(a, b, average_method="arithmetic")


@pytest.mark.parametrize(
    "scorer, metric",
    [
        (accuracy_scorer, clustering_accuracy_score),
        (nmi_scorer, _nmi),
        (ari_scorer, adjusted_rand_score),
    ],
)
def test_scorer_calls_predict(blobs, scorer, metric):
    X, y = blobs
    km = KMeans(n_clusters=2, n_init=3, random_state=0).fit(X)
    expected = metric(y, km.predict(X))
    assert scorer(km, X, y) == pytest.approx(expected)
    assert expected < 1.0  # imperfect clustering so the check is meaningful


@pytest.mark.parametrize("name", ["acc", "nmi", "ari"])
def test_cross_val_score_matches_direct_metric(blobs, name):
    X, y = blobs
    metric = {"acc": clustering_accuracy_score, "nmi": _nmi, "ari": adjusted_rand_score}[
        name
    ]
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    est = KMeans(n_clusters=4, n_init=3, random_state=0)
    scores = cross_val_score(est, X, y, scoring=get_scorer(name), cv=cv)
    expected = []
    for train, test in cv.split(X):
        fitted = KMeans(n_clusters=4, n_init=3, random_state=0).fit(X[train])
        expected.append(metric(y[test], fitted.predict(X[test])))
    np.testing.assert_allclose(scores, expected)


def test_grid_search_with_scorers(blobs):
    X, y = blobs
    search = GridSearchCV(
        KMeans(n_init=3, random_state=0),
        {"n_clusters": [2, 3, 5]},
        scoring=SCORERS,
        refit="acc",
        cv=KFold(n_splits=2, shuffle=True, random_state=0),
    )
    search.fit(X, y)
    assert search.best_params_ == {"n_clusters": 3}
    for name in SCORERS:
        assert f"mean_test_{name}" in search.cv_results_
    best = search.best_estimator_
    assert search.score(X, y) == pytest.approx(
        clustering_accuracy_score(y, best.predict(X))
    )


def test_scorers_dict_and_get_scorer():
    assert set(SCORERS) == {"acc", "nmi", "ari"}
    assert get_scorer("acc") is accuracy_scorer
    assert get_scorer("nmi") is nmi_scorer
    assert get_scorer("ari") is ari_scorer


def test_get_scorer_invalid_name():
    with pytest.raises(ValueError, match="'acc', 'ari', 'nmi'"):
        get_scorer("accuracy")
    with pytest.raises(ValueError, match="not a valid scorer"):
        get_scorer(["acc"])

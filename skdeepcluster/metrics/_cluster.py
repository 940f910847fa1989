"""Clustering accuracy and clustering scorers."""

from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, make_scorer, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

try:  # private helper used by scikit-learn's own clustering metrics
    from sklearn.metrics.cluster._supervised import check_clusterings as _check_clusterings
except ImportError:  # pragma: no cover - fallback for future scikit-learn layouts
    from sklearn.utils import check_array, check_consistent_length

    def _check_clusterings(labels_true, labels_pred):
        labels_true = check_array(
            labels_true, ensure_2d=False, ensure_min_samples=0, dtype=None
        )
        labels_pred = check_array(
            labels_pred, ensure_2d=False, ensure_min_samples=0, dtype=None
        )
        if labels_true.ndim != 1:
            raise ValueError(
                "labels_true must be 1D: shape is %r" % (labels_true.shape,)
            )
        if labels_pred.ndim != 1:
            raise ValueError(
                "labels_pred must be 1D: shape is %r" % (labels_pred.shape,)
            )
        check_consistent_length(labels_true, labels_pred)
        return labels_true, labels_pred


__all__ = [
    "SCORERS",
    "accuracy_scorer",
    "ari_scorer",
    "clustering_accuracy_score",
    "get_scorer",
    "nmi_scorer",
]


def clustering_accuracy_score(labels_true, labels_pred):
    """Clustering accuracy under the best one-to-one cluster/class matching.

    Cluster labels are arbitrary, so the predicted clusters are first matched
    to the true classes with the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) so that the number of
    correctly assigned samples is maximised. The score is that number divided
    by the number of samples.

    The matching is one-to-one: when the number of clusters differs from the
    number of classes, the clusters (or classes) left unmatched count as wrong.
    The score is symmetric: swapping ``labels_true`` and ``labels_pred`` does
    not change it.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground truth class labels. Any hashable, sortable labels (e.g.
        non-contiguous integers or strings) are accepted.

    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate. Any hashable, sortable labels are
        accepted.

    Returns
    -------
    score : float
        Accuracy in ``[0, 1]``; 1.0 means a perfect labelling up to a renaming
        of the clusters. As for :func:`sklearn.metrics.adjusted_rand_score`,
        two empty labelings get a score of 1.0.

    See Also
    --------
    sklearn.metrics.adjusted_rand_score : Adjusted Rand index.
    sklearn.metrics.normalized_mutual_info_score : Normalized mutual
        information.
    sklearn.metrics.cluster.contingency_matrix : Contingency matrix the
        matching is computed on.

    Examples
    --------
    >>> from skdeepcluster.metrics import clustering_accuracy_score
    >>> clustering_accuracy_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> clustering_accuracy_score([0, 0, 1, 1], [0, 0, 0, 1])
    0.75
    >>> clustering_accuracy_score(["a", "a", "b", "b"], [0, 1, 2, 2])
    0.75
    """
    labels_true, labels_pred = _check_clusterings(labels_true, labels_pred)
    n_samples = labels_true.shape[0]
    if n_samples == 0:
        return 1.0
    contingency, rows, cols = _best_matching(labels_true, labels_pred)
    return float(contingency[rows, cols].sum() / n_samples)


def _best_matching(labels_true, labels_pred):
    """The contingency matrix and its best one-to-one class/cluster matching.

    Returns ``(contingency, rows, cols)``: ``contingency[i, j]`` counts the samples of
    the ``i``-th class (sorted labels of ``labels_true``) in the ``j``-th cluster (sorted
    labels of ``labels_pred``); class ``rows[k]`` is matched with cluster ``cols[k]``,
    ``rows`` increasing, so that ``contingency[rows, cols].sum()`` is as large as
    possible (the Hungarian algorithm). The labels must be checked, 1-D, of equal
    non-zero length. :func:`clustering_accuracy_score` and
    :class:`skdeepcluster.inspection.ContingencyMatrixDisplay` share this matching.
    """
    contingency = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return contingency, rows, cols


def _nmi_arithmetic(labels_true, labels_pred):
    return normalized_mutual_info_score(
        labels_true, labels_pred, average_method="arithmetic"
    )


accuracy_scorer = make_scorer(clustering_accuracy_score)
accuracy_scorer.__doc__ = (
    "Scorer computing :func:`clustering_accuracy_score` of "
    "``estimator.predict(X)`` against ``y``."
)

nmi_scorer = make_scorer(_nmi_arithmetic)
nmi_scorer.__doc__ = (
    "Scorer computing :func:`sklearn.metrics.normalized_mutual_info_score` "
    "(``average_method='arithmetic'``) of ``estimator.predict(X)`` against ``y``."
)

ari_scorer = make_scorer(adjusted_rand_score)
ari_scorer.__doc__ = (
    "Scorer computing :func:`sklearn.metrics.adjusted_rand_score` of "
    "``estimator.predict(X)`` against ``y``."
)

SCORERS = {"acc": accuracy_scorer, "nmi": nmi_scorer, "ari": ari_scorer}


def get_scorer(name):
    """Get a clustering scorer by name.

    The scorers call ``estimator.predict(X)`` and compare the predicted
    cluster labels with ``y``; they can be passed as ``scoring`` to
    :class:`sklearn.model_selection.GridSearchCV` or
    :func:`sklearn.model_selection.cross_val_score`.

    Parameters
    ----------
    name : {"acc", "nmi", "ari"}
        Name of the scorer: clustering accuracy, normalized mutual
        information (arithmetic averaging) or adjusted Rand index.

    Returns
    -------
    scorer : callable
        Scorer with signature ``scorer(estimator, X, y)``.

    Raises
    ------
    ValueError
        If ``name`` is not a valid scorer name.

    See Also
    --------
    clustering_accuracy_score : Clustering accuracy metric.
    sklearn.metrics.get_scorer : Scikit-learn's scorer lookup.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster.metrics import get_scorer
    >>> X, y = make_blobs(n_samples=30, centers=3, cluster_std=0.5,
    ...                   random_state=0)
    >>> km = KMeans(n_clusters=3, n_init=10, random_state=0).fit(X)
    >>> scorer = get_scorer("acc")
    >>> float(scorer(km, X, y))
    1.0
    """
    try:
        return SCORERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{name!r} is not a valid scorer name. Valid names are "
            f"{sorted(SCORERS)}."
        ) from None

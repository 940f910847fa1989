"""The displays of skdeepcluster.inspection: what they draw, where, and their errors."""

import importlib
import itertools
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.decomposition import PCA, TruncatedSVD  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics.cluster import contingency_matrix  # noqa: E402

import skdeepcluster  # noqa: E402
from skdeepcluster import DECClusterer  # noqa: E402
from skdeepcluster.inspection import (  # noqa: E402
    ContingencyMatrixDisplay,
    EmbeddingDisplay,
    TrainingCurvesDisplay,
)
from skdeepcluster.metrics import clustering_accuracy_score  # noqa: E402

from _instances import tiny_autoencoder, tiny_clusterers  # noqa: E402


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=60, n_features=6, centers=3, random_state=0)
    return X.astype("float32"), y


@pytest.fixture(scope="module")
def dec(data):
    return tiny_clusterers()[0].fit(data[0])  # DEC, 3 clusters, latent_dim=3


@pytest.fixture(scope="module")
def autoencoder(data):
    return tiny_autoencoder().fit(data[0])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_texts(display):
    return [text.get_text() for text in display.legend_.get_texts()]


# -- EmbeddingDisplay ----------------------------------------------------------------------
def test_embedding_is_pca_of_transform_coloured_by_cluster(data, dec):
    X, _ = data
    display = EmbeddingDisplay.from_estimator(dec, X)
    expected = PCA(n_components=2, random_state=0).fit_transform(dec.transform(X))
    np.testing.assert_allclose(display.embedding_2d, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(display.labels, dec.predict(X))
    assert isinstance(display.ax_, matplotlib.axes.Axes)
    assert display.figure_ is display.ax_.figure
    # the scatter holds the 2-D points, and one colour code per cluster
    np.testing.assert_allclose(display.scatter_.get_offsets(), expected, rtol=1e-5,
                               atol=1e-6)
    codes = np.asarray(display.scatter_.get_array())
    np.testing.assert_array_equal(codes, np.unique(dec.predict(X), return_inverse=True)[1])
    assert display.legend_.get_title().get_text() == "cluster"
    assert legend_texts(display) == [str(c) for c in np.unique(dec.predict(X))]


def test_embedding_coloured_by_true_labels_into_given_ax(data, dec):
    X, y = data
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    fig, ax = plt.subplots()
    display = EmbeddingDisplay.from_estimator(dec, X, names, ax=ax)
    assert display.ax_ is ax and display.figure_ is fig
    assert list(display.labels) == list(names)
    assert display.legend_.get_title().get_text() == "class"
    assert legend_texts(display) == ["setosa", "versicolor", "virginica"]
    fig.canvas.draw()
    colors = display.scatter_.get_facecolors()
    assert colors.shape == (60, 4)
    # one colour per class, distinct between classes
    per_class = [np.unique(colors[names == name], axis=0) for name in np.unique(names)]
    assert all(c.shape[0] == 1 for c in per_class)
    assert np.unique(np.vstack(per_class), axis=0).shape[0] == 3


def test_embedding_reducer_is_cloned_and_checked(data, dec):
    X, y = data
    reducer = TruncatedSVD(n_components=2, random_state=0)
    display = EmbeddingDisplay.from_estimator(dec, X, y, reducer=reducer)
    expected = TruncatedSVD(n_components=2, random_state=0).fit_transform(dec.transform(X))
    np.testing.assert_allclose(display.embedding_2d, expected, rtol=1e-5, atol=1e-6)
    assert not hasattr(reducer, "components_")  # the reducer passed in stays unfitted
    with pytest.raises(ValueError, match="must return 2 columns.*n_components=2"):
        EmbeddingDisplay.from_estimator(dec, X, reducer=PCA(n_components=3))
    with pytest.raises(TypeError, match="reducer must be a transformer"):
        EmbeddingDisplay.from_estimator(dec, X, reducer="pca")


def test_embedding_from_predictions_and_unlabelled(data, autoencoder):
    X, y = data
    # an AutoEncoder does not predict: without y, one colour and no legend
    display = EmbeddingDisplay.from_estimator(autoencoder, X)
    assert display.labels is None and display.legend_ is None
    assert display.scatter_.get_array() is None
    # a 2-D embedding is drawn as it is, without a projection
    Z = np.random.RandomState(0).normal(size=(60, 2))
    display = EmbeddingDisplay.from_predictions(Z, y, label_name="digit", legend=False)
    np.testing.assert_array_equal(display.embedding_2d, Z)
    np.testing.assert_array_equal(display.scatter_.get_offsets(), Z)
    assert display.legend_ is None
    with pytest.raises(ValueError, match="1 dimension"):
        EmbeddingDisplay.from_predictions(Z[:, :1], y)
    with pytest.raises(ValueError, match="labels has 59 labels but embedding has 60"):
        EmbeddingDisplay.from_predictions(Z, y[:-1])


def test_embedding_plot_checks_its_data():
    display = EmbeddingDisplay(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="embedding_2d must have 2 columns"):
        display.plot()


# -- ContingencyMatrixDisplay --------------------------------------------------------------
def test_contingency_from_estimator_matches_the_accuracy(data, dec):
    X, y = data
    pred = dec.predict(X)
    display = ContingencyMatrixDisplay.from_estimator(dec, X, y)
    # the drawn matrix is the contingency matrix with rows and columns relabelled ...
    full = contingency_matrix(y, pred)
    rows = np.searchsorted(np.unique(y), display.class_labels)
    cols = np.searchsorted(np.unique(pred), display.cluster_labels)
    np.testing.assert_array_equal(display.contingency, full[np.ix_(rows, cols)])
    assert sorted(cols) == list(range(full.shape[1]))  # every cluster, once
    # ... and its diagonal is the best matching (by brute force over all matchings)
    best = max(full[np.arange(3), list(perm)].sum()
               for perm in itertools.permutations(range(3)))
    assert np.trace(display.contingency) == best
    assert display.accuracy == pytest.approx(best / 60)
    assert display.accuracy == pytest.approx(clustering_accuracy_score(y, pred))
    assert display.ax_.get_title() == f"accuracy {display.accuracy:.3f}"
    np.testing.assert_array_equal(display.im_.get_array(), display.contingency)
    texts = np.vectorize(lambda t: t.get_text())(display.text_)
    np.testing.assert_array_equal(texts, display.contingency.astype(str))


def test_contingency_more_clusters_than_classes():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2]
    y_pred = ["y", "y", "w", "z", "z", "z", "x", "x"]
    # by hand: classes x clusters (w, x, y, z) = [[1,0,2,0], [0,0,0,2], [0,2,0,1]];
    # the best matching is 0-y, 1-z, 2-x (6 of 8); the unmatched cluster w comes last
    display = ContingencyMatrixDisplay.from_predictions(y_true, y_pred)
    np.testing.assert_array_equal(display.contingency,
                                  [[2, 0, 0, 1], [0, 2, 0, 0], [0, 1, 2, 0]])
    assert list(display.cluster_labels) == ["y", "z", "x", "w"]
    assert list(display.class_labels) == [0, 1, 2]
    assert display.accuracy == 0.75


def test_contingency_fewer_clusters_than_classes():
    y_true = ["a", "a", "b", "b", "b", "c", "c", "c"]
    y_pred = [1, 1, 0, 0, 0, 0, 1, 1]
    # by hand: classes (a, b, c) x clusters (0, 1) = [[0,2], [3,0], [1,2]]; the best
    # matchings are b-0 with a-1 or with c-1 (5 of 8); the unmatched class comes last
    display = ContingencyMatrixDisplay.from_predictions(y_true, y_pred)
    assert display.accuracy == 5 / 8
    drawn = (list(display.class_labels), list(display.cluster_labels),
             display.contingency.tolist())
    assert drawn in [(["a", "b", "c"], [1, 0], [[2, 0], [0, 3], [2, 1]]),
                     (["b", "c", "a"], [0, 1], [[3, 0], [1, 2], [0, 2]])]


def test_contingency_into_given_ax_without_values_or_colorbar():
    fig, ax = plt.subplots()
    display = ContingencyMatrixDisplay.from_predictions(
        [0, 1, 1], [1, 0, 0], ax=ax, include_values=False, colorbar=False)
    assert display.ax_ is ax and display.figure_ is fig
    assert display.text_ is None
    assert len(fig.axes) == 1  # no colorbar axes
    np.testing.assert_array_equal(display.contingency, [[1, 0], [0, 2]])
    with pytest.raises(ValueError, match="class_labels must have 2 labels"):
        ContingencyMatrixDisplay(np.eye(2), class_labels=["a"]).plot()


# -- TrainingCurvesDisplay -----------------------------------------------------------------
def test_training_curves_from_estimator(dec):
    display = TrainingCurvesDisplay.from_estimator(dec)
    assert list(display.curves) == ["train_loss", "delta_label"]
    for key in display.curves:
        epochs, values = display.curves[key]
        np.testing.assert_array_equal(epochs, [h["epoch"] for h in dec.history_])
        np.testing.assert_allclose(values, [h[key] for h in dec.history_])
        np.testing.assert_allclose(display.lines_[key].get_ydata(), values)
        assert display.axes_[key].get_ylabel() == key
        assert display.axes_[key].figure is display.figure_
    assert len(display.figure_.axes) == 2


def test_training_curves_keys_and_ax(data):
    X, _ = data
    deepcluster = tiny_clusterers()[3].fit(X)
    default = TrainingCurvesDisplay.from_estimator(deepcluster)
    assert list(default.curves) == ["train_loss", "kmeans_loss", "nmi_previous"]
    fig, ax = plt.subplots()
    display = TrainingCurvesDisplay.from_estimator(deepcluster, keys=["nmi_previous"],
                                                   ax=ax)
    assert display.axes_ == {"nmi_previous": ax} and display.figure_ is fig
    epochs, values = display.curves["nmi_previous"]
    assert np.isnan(values[0])  # no previous epoch to compare with
    np.testing.assert_allclose(values[1:], [h["nmi_previous"]
                                            for h in deepcluster.history_[1:]])
    fig, axes = plt.subplots(2, 2)
    display = TrainingCurvesDisplay.from_estimator(
        deepcluster, keys=["train_loss", "kmeans_loss"], ax=axes[:, 1])
    assert display.axes_ == {"train_loss": axes[0, 1], "kmeans_loss": axes[1, 1]}
    with pytest.raises(ValueError, match="ax has 1 Axes for 2 curves"):
        TrainingCurvesDisplay.from_estimator(deepcluster, ax=ax, keys=["train_loss",
                                                                       "kmeans_loss"])
    with pytest.raises(ValueError, match="'delta_label' is not recorded.*kmeans_loss"):
        TrainingCurvesDisplay.from_estimator(deepcluster, keys=["delta_label"])


def test_training_curves_from_history_records_missing_in_some_epochs():
    history = [{"epoch": 1, "train_loss": 3.0, "dur": 0.1},
               {"epoch": 2, "train_loss": 2.0, "score": 0.5, "dur": 0.1},
               {"epoch": 3, "train_loss": 1.0, "score": None, "note": "x", "best": True},
               {"epoch": 4, "train_loss": 0.5, "score": 0.7}]
    display = TrainingCurvesDisplay.from_history(history)
    assert list(display.curves) == ["train_loss", "score"]  # no dur, note, best
    np.testing.assert_array_equal(display.curves["score"][0], [2, 4])
    np.testing.assert_array_equal(display.curves["score"][1], [0.5, 0.7])
    with pytest.raises(ValueError, match="'note' is not numeric"):
        TrainingCurvesDisplay.from_history(history, keys=["note"])
    with pytest.raises(ValueError, match="history is empty"):
        TrainingCurvesDisplay.from_history([])


def test_training_curves_needs_a_history(data):
    kmeans = KMeans(n_clusters=3, n_init=1, random_state=0).fit(data[0])
    with pytest.raises(TypeError, match="history_ attribute; KMeans has none"):
        TrainingCurvesDisplay.from_estimator(kmeans)


# -- errors common to the displays ---------------------------------------------------------
FROM_ESTIMATOR = {
    "embedding": lambda est, X, y: EmbeddingDisplay.from_estimator(est, X, y),
    "contingency": lambda est, X, y: ContingencyMatrixDisplay.from_estimator(est, X, y),
    "curves": lambda est, X, y: TrainingCurvesDisplay.from_estimator(est),
}


@pytest.mark.parametrize("draw", FROM_ESTIMATOR.values(), ids=FROM_ESTIMATOR.keys())
def test_unfitted_estimator(data, draw):
    with pytest.raises(NotFittedError):
        draw(DECClusterer(n_clusters=3), *data)


@pytest.mark.parametrize("draw", [FROM_ESTIMATOR["embedding"],
                                  FROM_ESTIMATOR["contingency"]])
def test_y_of_the_wrong_length(data, dec, draw):
    X, y = data
    with pytest.raises(ValueError, match="y has 59 labels but X has 60 samples"):
        draw(dec, X, y[:-1])
    with pytest.raises(ValueError, match="y must be 1-D"):
        draw(dec, X, y.reshape(-1, 1))


def test_contingency_needs_predict(data, autoencoder):
    with pytest.raises(TypeError, match="predict method; AutoEncoder has none"):
        ContingencyMatrixDisplay.from_estimator(autoencoder, *data)


def test_without_matplotlib(monkeypatch, data, dec):
    X, y = data
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    calls = [
        lambda: EmbeddingDisplay.from_estimator(dec, X),
        lambda: EmbeddingDisplay(np.zeros((3, 2))).plot(),
        lambda: ContingencyMatrixDisplay.from_predictions(y, y),
        lambda: TrainingCurvesDisplay.from_estimator(dec),
        lambda: TrainingCurvesDisplay({"a": ([1], [1.0])}).plot(),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r"needs matplotlib.*pip install matplotlib"):
            call()
    # the module itself imports without matplotlib
    imported = sys.modules["skdeepcluster.inspection"]
    monkeypatch.setattr(skdeepcluster, "inspection", imported)
    for name in [n for n in sys.modules if n.startswith("skdeepcluster.inspection")]:
        monkeypatch.delitem(sys.modules, name)
    fresh = importlib.import_module("skdeepcluster.inspection")
    assert fresh is not imported and hasattr(fresh, "EmbeddingDisplay")

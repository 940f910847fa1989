"""The scikit-learn API every estimator shares, tested once over all of them.

Each test runs over the tiny instances of ``_instances`` (DEC, IDEC, DCN, DeepCluster,
VaDE and, where it applies, the AutoEncoder): Pipeline and GridSearchCV (with scorers,
and with the estimator's own ``score``), clone and pickle, unfitted and badly shaped
input, non-finite input, too few samples and the parameters the estimators share. What
is particular to one method stays in its own test file.
"""

import functools
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skdeepcluster import AutoEncoder, DCNClusterer, DECClusterer, VaDEClusterer
from skdeepcluster.metrics import accuracy_scorer, ari_scorer, nmi_scorer

from _instances import assert_valid_labels, estimator_id, tiny_autoencoder, tiny_clusterers

CLUSTERERS = tiny_clusterers()
ESTIMATORS = [*CLUSTERERS, tiny_autoencoder()]
SCORERS = {"ari": ari_scorer, "nmi": nmi_scorer, "acc": accuracy_scorer}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=6, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module", params=ESTIMATORS, ids=estimator_id)
def fitted(request, blobs):
    return clone(request.param).fit(blobs[0])


def _quick(est):
    """A clone of ``est`` that trains less (for the many fits of a grid search)."""
    quick = clone(est).set_params(max_epochs=2, batch_size=32)
    if "pretrain_epochs" in quick.get_params():
        quick.set_params(pretrain_epochs=2)
    return quick


def _is_clusterer(est):
    return not isinstance(est, AutoEncoder)


def _methods(est):
    """The methods of ``est`` that take data of the training width."""
    return [m for m in ("predict", "predict_proba", "transform", "score") if hasattr(est, m)]


def _fitted_attributes(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


# -- Pipeline and GridSearchCV -------------------------------------------------------------
@pytest.mark.parametrize("est", CLUSTERERS, ids=estimator_id)
def test_pipeline_in_grid_search_with_scorers(est, blobs):
    X, y = blobs
    pipe = Pipeline([("scale", StandardScaler()), ("est", _quick(est))])
    grid = GridSearchCV(pipe, {"est__n_clusters": [2, 3]}, scoring=SCORERS, refit="ari",
                        cv=2).fit(X, y)
    for name in SCORERS:
        assert np.isfinite(grid.cv_results_[f"mean_test_{name}"]).all()
    assert grid.best_params_ == {"est__n_clusters": 3}  # three blobs
    best = grid.best_estimator_
    labels = grid.predict(X)
    assert_valid_labels(labels, 3, len(X))
    np.testing.assert_array_equal(labels, best[-1].labels_)
    Z = grid.transform(X)
    assert Z.shape == (len(X), est.latent_dim)
    if hasattr(est, "predict_proba"):
        assert grid.predict_proba(X).shape == (len(X), 3)
    prefix = type(est).__name__.lower()
    np.testing.assert_array_equal(best.get_feature_names_out(),
                                  [f"{prefix}{i}" for i in range(Z.shape[1])])


@pytest.mark.parametrize("est", CLUSTERERS, ids=estimator_id)
def test_grid_search_without_scoring_uses_score(est, blobs, tmp_path, monkeypatch):
    X, _ = blobs
    seen = []
    original = type(est).score

    @functools.wraps(original)
    def recording(self, *args, **kwargs):
        seen.append(original(self, *args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(type(est), "score", recording)
    base = _quick(est)
    cached = "memory" in base.get_params()
    if cached:  # the pretraining is shared by the candidates of a fold
        base.set_params(memory=str(tmp_path))
    grid = GridSearchCV(base, {"n_clusters": [2, 3]}, cv=2, refit=False).fit(X)
    results = grid.cv_results_
    # Each candidate's score on each test fold is the estimator's own score (VaDE: the
    # ELBO), candidate by candidate and fold by fold.
    split_scores = np.column_stack([results["split0_test_score"], results["split1_test_score"]])
    np.testing.assert_array_equal(split_scores.ravel(), seen)
    scores = results["mean_test_score"]
    assert np.isfinite(scores).all()
    if not isinstance(est, VaDEClusterer):
        assert np.all(scores <= 0)  # minus a loss
    assert grid.best_score_ == pytest.approx(scores.max())
    assert grid.best_params_ == {"n_clusters": [2, 3][scores.argmax()]}
    assert not cached or any(tmp_path.rglob("output.pkl"))


# -- clone and pickle ----------------------------------------------------------------------
def test_clone_is_unfitted_with_the_same_parameters(fitted):
    c = clone(fitted)
    assert c.get_params() == fitted.get_params()
    assert _fitted_attributes(fitted)  # the fixture is fitted ...
    assert _fitted_attributes(c) == {} and not hasattr(c, "net_")  # ... its clone is not


def test_pickle_round_trip(fitted, blobs):
    X = blobs[0]
    data = pickle.dumps(fitted)
    restored = pickle.loads(data)
    for method in _methods(fitted):
        np.testing.assert_array_equal(getattr(restored, method)(X), getattr(fitted, method)(X),
                                      err_msg=method)
    for name, value in _fitted_attributes(fitted).items():
        if isinstance(value, np.ndarray):  # labels_, cluster_centers_, counts_, means_, ...
            np.testing.assert_array_equal(getattr(restored, name), value, err_msg=name)
        elif name != "net_":  # n_iter_, history_ (NaN in DeepCluster's), temperature_, ...
            assert repr(getattr(restored, name)) == repr(value), name
    assert restored.device_ == torch.device("cpu")
    if hasattr(fitted, "sample"):
        np.testing.assert_array_equal(restored.sample(5)[0], fitted.sample(5)[0])
    # The training data does not travel with the model.
    assert X[:10].tobytes() not in data


# -- bad input -----------------------------------------------------------------------------
def test_methods_need_a_fit_and_the_training_width(fitted, blobs):
    X = blobs[0]
    methods = _methods(fitted)
    assert {"transform", "score"} <= set(methods)
    assert ("predict" in methods) is _is_clusterer(fitted)
    unfitted = clone(fitted)
    for method in methods:
        with pytest.raises(NotFittedError):
            getattr(unfitted, method)(X)
        with pytest.raises(ValueError, match="4 features.*expecting 6 features"):
            getattr(fitted, method)(X[:, :4])


@pytest.mark.parametrize("bad, match", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_input(fitted, blobs, bad, match):
    X = blobs[0].copy()
    X[3, 2] = bad
    est = clone(fitted)
    with pytest.raises(ValueError, match=match):
        est.fit(X)
    assert _fitted_attributes(est) == {}
    for method in _methods(fitted):
        with pytest.raises(ValueError, match=match):
            getattr(fitted, method)(X)


@pytest.mark.parametrize("est", ESTIMATORS, ids=estimator_id)
def test_too_few_samples(est, blobs):
    X = blobs[0]
    one = clone(est).set_params(n_clusters=1) if _is_clusterer(est) else clone(est)
    with pytest.raises(ValueError, match="1 sample"):
        one.fit(X[:1])
    if _is_clusterer(est):
        with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=10"):
            clone(est).set_params(n_clusters=10).fit(X[:5])


#: Bad values of the parameters the estimators share; each estimator is tested with
#: those it has (DeepCluster has no ``optimizer``, the AutoEncoder no ``n_clusters``).
SHARED_BAD_PARAMETERS = [
    ("batch_size", 0, "'batch_size'"),
    ("batch_size", 1, "'batch_size'"),
    ("n_clusters", 0, "'n_clusters'"),
    ("latent_dim", 0, "'latent_dim'"),
    ("max_epochs", -1, "'max_epochs'"),
    ("tol", -0.1, "'tol'"),
    ("tol", 2.0, "'tol'"),
    ("lr", -1.0, "'lr'"),
    ("lr", 0.0, "'lr'"),
    ("optimizer", "rmsprop", "'optimizer'"),
    ("n_init", 0, "'n_init'"),
    ("device", "nonsense", "device='nonsense'"),
    ("n_clusters", True, "'n_clusters'"),
    ("max_epochs", True, "'max_epochs'"),
    ("latent_dim", True, "'latent_dim'"),
    ("hidden_dims", (16, 0), "'hidden_dims'"),
    ("hidden_dims", (-4,), "'hidden_dims'"),
    ("hidden_dims", (2.5,), "'hidden_dims'"),
    ("hidden_dims", (True,), "'hidden_dims'"),
    ("callbacks", [1], "'callbacks'"),
    ("callbacks", [("name", 1)], "'callbacks'"),
]


@pytest.mark.parametrize("est, name, value, match", [
    pytest.param(est, name, value, match, id=f"{estimator_id(est)}-{name}={value}")
    for est in ESTIMATORS for name, value, match in SHARED_BAD_PARAMETERS
    if name in est.get_params()
])
def test_bad_shared_parameters(est, name, value, match, blobs):
    with pytest.raises(ValueError, match=match):
        clone(est).set_params(**{name: value}).fit(blobs[0])


def test_bad_parameters_leave_a_fitted_model_as_it_was(fitted, blobs):
    X = blobs[0]
    before = fitted.transform(X)
    for name, value in [("hidden_dims", (16, 0)), ("callbacks", [1])]:
        bad = pickle.loads(pickle.dumps(fitted)).set_params(**{name: value})
        with pytest.raises(ValueError, match=f"'{name}'"):
            bad.fit(X)
        np.testing.assert_array_equal(bad.transform(X), before)


def test_callbacks_may_be_classes_or_named(blobs):
    from skorch.callbacks import Callback

    class Count(Callback):
        epochs = 0

        def on_epoch_end(self, net, **kwargs):
            type(self).epochs += 1

    tiny_autoencoder(max_epochs=2, callbacks=[Count, ("count", Count())]).fit(blobs[0])
    assert Count.epochs == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("est", ESTIMATORS, ids=estimator_id)
def test_cuda_unavailable(est, blobs):
    with pytest.raises(ValueError, match="CUDA is not available"):
        clone(est).set_params(device="cuda").fit(blobs[0])


@pytest.mark.parametrize("est", [e for e in CLUSTERERS if "pretrain_epochs" in e.get_params()],
                         ids=estimator_id)
def test_pretraining_gets_image_shape_augment_and_contrastive(est, monkeypatch):
    from sklearn.datasets import load_digits

    from skdeepcluster import _pretraining
    from skdeepcluster._autoencoder import CONTRASTIVE_WEIGHT

    built = []

    class Recording(AutoEncoder):
        def _fit(self, X, device, seed, checkpoint=None):
            fitted = super()._fit(X, device, seed, checkpoint)
            built.append((self.image_shape, self.augment, self.contrastive,
                          fitted["image_shape_"], fitted["net_"].contrastive))
            return fitted

    monkeypatch.setattr(_pretraining, "AutoEncoder", Recording)
    X = (load_digits().data[:90] / 16.0).astype(np.float32)
    clone(est).set_params(max_epochs=1, pretrain_epochs=1).fit(X)
    clone(est).set_params(max_epochs=1, pretrain_epochs=1, contrastive=0.2).fit(X)
    clone(est).set_params(max_epochs=1, pretrain_epochs=1, image_shape=(1, 4, 16),
                          augment=False).fit(X)
    assert built == [("auto", True, "auto", (1, 8, 8), CONTRASTIVE_WEIGHT),
                     ("auto", True, 0.2, (1, 8, 8), 0.2),
                     ((1, 4, 16), False, "auto", (1, 4, 16), 0.0)]
    with pytest.raises(ValueError, match="image_shape"):
        clone(est).set_params(image_shape=(1, 7, 7)).fit(X)


@pytest.mark.parametrize("est", ESTIMATORS, ids=estimator_id)
def test_score_of_a_bernoulli_model_rejects_data_outside_the_unit_interval(est):
    # Fitted on [0, 1] data, the reconstruction term of AutoEncoder, IDEC and DCN is the
    # binary cross-entropy and VaDE's likelihood is Bernoulli ("auto"): undefined for
    # values outside [0, 1]. DEC (no decoder) and DeepCluster score no reconstruction.
    X = np.random.RandomState(0).rand(60, 6).astype(np.float32)
    fitted = clone(est).fit(X)
    before = fitted.score(X)
    bernoulli = isinstance(fitted, (AutoEncoder, VaDEClusterer, DCNClusterer)) or (
        isinstance(fitted, DECClusterer) and fitted.gamma > 0)
    if bernoulli:
        with pytest.raises(ValueError, match=r"Bernoulli likelihood .* ranges over \["):
            fitted.score(X * 2)
    else:
        assert np.isfinite(fitted.score(X * 2))
    assert fitted.score(X) == before  # the fitted model is unchanged

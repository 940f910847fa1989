"""DECClusterer (DEC, and IDEC with gamma=0.1): the model, its pretraining, errors.

The API every estimator shares (Pipeline, GridSearchCV, clone, pickle, bad input, shared
parameters) is tested in test_api.py.
"""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_blobs
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from skdeepcluster import AutoEncoder, DECClusterer
from skdeepcluster.metrics import accuracy_scorer, ari_scorer, nmi_scorer

from _instances import assert_valid_labels

TINY = dict(hidden_dims=(16,), latent_dim=3, batch_size=32, pretrain_epochs=5, max_epochs=5,
            n_init=3, device="cpu", random_state=0)
AE_TINY = dict(hidden_dims=(16,), latent_dim=3, batch_size=32, max_epochs=5, device="cpu",
               random_state=0)


def dec(**kw):
    return DECClusterer(**{"n_clusters": 3, **TINY, **kw})


@pytest.fixture(scope="module")
def X():
    from sklearn.datasets import load_digits

    return (load_digits().data[:300] / 16.0).astype(np.float32)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, centers=3, n_features=6, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module", params=[0.0, 0.1], ids=["DEC", "IDEC"])
def fitted(request, X):
    return dec(gamma=request.param).fit(X)


@pytest.fixture(scope="module")
def fitted_ae(X):
    return AutoEncoder(**AE_TINY).fit(X)


def test_idec_reconstruction_term_is_the_autoencoders_loss(X):
    ae = AutoEncoder(**AE_TINY, loss="binary_cross_entropy").fit(X)
    est = dec(gamma=0.1, autoencoder=ae, max_epochs=2).fit(X)
    assert est.module_.loss == "binary_cross_entropy"
    # IDEC's score is -(reconstruction + gamma * KL): with gamma=0 only the cross-entropy
    # of X under the decoder's logits is left.
    module = est.module_
    with torch.no_grad():
        _, logits, _ = module(torch.from_numpy(X))
    x = X.astype(np.float64)
    logits = logits.numpy().astype(np.float64)
    bce = np.mean(np.logaddexp(0.0, logits) - x * logits)
    assert est.set_params(gamma=0.0).score(X) == pytest.approx(-bce, rel=1e-5)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- the fitted model ---------------------------------------------------------------------
def test_fitted_attributes_are_consistent(X, fitted):
    k = fitted.n_clusters
    assert_valid_labels(fitted.labels_, k, len(X))
    np.testing.assert_array_equal(fitted.labels_, fitted.predict(X))
    np.testing.assert_array_equal(fitted.fit_predict(X), fitted.labels_)  # same seed
    assert fitted.cluster_centers_.shape == (k, 3)
    assert fitted.n_features_in_ == X.shape[1]
    assert fitted.device_ == torch.device("cpu")
    Z = fitted.transform(X)
    assert Z.shape == (len(X), 3)
    # predict is the nearest centre in the embedding.
    d2 = ((Z[:, None] - fitted.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(fitted.predict(X), d2.argmin(1))


def test_predict_proba_rows_are_distributions_consistent_with_predict(X, fitted):
    q = fitted.predict_proba(X)
    assert q.shape == (len(X), fitted.n_clusters)
    assert np.all(q >= 0)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(q.argmax(1), fitted.predict(X))


def test_history_and_iterations(fitted):
    assert 1 <= fitted.n_iter_ <= 5
    assert len(fitted.history_) == fitted.n_iter_
    assert all(np.isfinite(row["train_loss"]) for row in fitted.history_)
    if fitted.n_iter_ > 1:
        deltas = [row["delta_label"] for row in fitted.history_ if "delta_label" in row]
        assert deltas and all(0.0 <= d <= 1.0 for d in deltas)


def test_tol_controls_early_stopping(X, fitted_ae):
    early = dec(tol=1.0, max_epochs=10, autoencoder=fitted_ae).fit(X)
    full = dec(tol=0.0, max_epochs=10, autoencoder=fitted_ae).fit(X)
    # tol=1: fewer than 100% of labels change after the first update -> stop at once.
    assert early.n_iter_ == 1
    assert "delta_label" in early.history_[-1]
    assert early.history_[-1]["delta_label"] < 1.0
    # tol=0: never "fewer than 0%": runs every epoch.
    assert full.n_iter_ == 10
    assert sum("delta_label" in row for row in full.history_) >= 9


def test_update_interval_sets_iterations_per_update(X, fitted_ae):
    est = dec(tol=0.0, max_epochs=2, update_interval=3, autoencoder=fitted_ae).fit(X)
    # 300 rows / 32 per batch = 10 batches a pass; 2 passes / 3 batches -> 7 updates.
    assert est.n_iter_ == 7
    assert all(row["train_batch_count"] == 3 for row in est.history_)


def test_idec_keeps_the_decoder_and_dec_drops_it(X, fitted):
    if fitted.gamma > 0:
        assert fitted.module_.decoder is not None
        q, x_hat, z = fitted.module_(torch.from_numpy(X[:4]))
        assert x_hat.shape == (4, X.shape[1])
    else:
        assert fitted.module_.decoder is None


def test_score_is_negative_objective(X, fitted):
    from skdeepcluster._losses import kl_divergence, target_distribution

    s = fitted.score(X)
    assert np.isfinite(s) and s <= 0
    q = torch.from_numpy(fitted.predict_proba(X).astype(np.float64))
    kl = float(kl_divergence(target_distribution(q), q))
    if fitted.gamma == 0:
        assert s == pytest.approx(-kl, rel=1e-3, abs=1e-6)
    else:
        # X lies in [0, 1]: the default pretraining (and IDEC's reconstruction term) is
        # the binary cross-entropy of the decoder's logits.
        module = fitted.module_.eval()
        assert module.loss == "binary_cross_entropy"
        with torch.no_grad():
            logits = module(torch.from_numpy(X))[1].double()
            rec = float(F.binary_cross_entropy_with_logits(logits, torch.from_numpy(X).double()))
        assert s == pytest.approx(-(rec + fitted.gamma * kl), rel=1e-3)


def test_n_clusters_one(blobs):
    X, _ = blobs
    est = dec(n_clusters=1).fit(X)
    assert np.all(est.labels_ == 0)
    np.testing.assert_allclose(est.predict_proba(X), 1.0)


# -- scikit-learn integration (DEC's own; the shared API is in test_api.py) ---------------
def _count_autoencoder_fits(monkeypatch):
    calls = []
    original = AutoEncoder._fit

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AutoEncoder, "_fit", counting)
    return calls


def test_grid_search_with_scorers_caches_pretraining(blobs, tmp_path, monkeypatch):
    X, y = blobs
    calls = _count_autoencoder_fits(monkeypatch)
    grid = GridSearchCV(
        dec(memory=str(tmp_path), max_epochs=2),
        {"n_clusters": [2, 3], "gamma": [0.0, 0.1]},
        scoring={"ari": ari_scorer, "nmi": nmi_scorer, "acc": accuracy_scorer},
        refit="ari", cv=2,
    ).fit(X, y)
    assert grid.best_params_["n_clusters"] in (2, 3)
    assert grid.best_params_["gamma"] in (0.0, 0.1)
    for name in ("ari", "nmi", "acc"):
        assert np.isfinite(grid.cv_results_[f"mean_test_{name}"]).all()
    # 4 candidates x 2 folds + refit = 9 fits, but only 3 distinct pretrainings (one per
    # fold, one on the whole data): the other 6 are cache hits.
    assert len(calls) == 3
    assert any(tmp_path.rglob("output.pkl"))
    assert_valid_labels(grid.predict(X), grid.best_params_["n_clusters"], len(X))


def test_same_seed_is_reproducible_and_other_seeds_valid(blobs):
    X, _ = blobs
    a, b = dec(random_state=3).fit(X), dec(random_state=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    others = [dec(random_state=s).fit(X) for s in (4, None)]
    assert not np.allclose(a.transform(X), others[0].transform(X))
    for est in others:
        assert_valid_labels(est.labels_, 3, len(X))


@pytest.mark.parametrize("random_state", [None, 7])
def test_fit_does_not_touch_global_rng_state(blobs, random_state):
    X, _ = blobs
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    np_state, py_state, torch_state = np.random.get_state(), random.getstate(), torch.get_rng_state()
    dec(random_state=random_state, max_epochs=2).fit(X)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert random.getstate() == py_state
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_verbose(blobs, capsys):
    X, _ = blobs
    dec(verbose=0, max_epochs=2).fit(X)
    assert capsys.readouterr() == ("", "")
    dec(verbose=2, max_epochs=3, tol=0.0).fit(X)
    out = capsys.readouterr().out
    assert "train_loss" in out
    # pretraining prints 5 epoch lines and the clustering phase 3 more.
    epoch_lines = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(epoch_lines) >= 5 + 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(blobs, dtype):
    X = blobs[0].astype(dtype)
    X_before = X.copy()
    est = dec(max_epochs=2).fit(X)
    np.testing.assert_array_equal(X, X_before)  # the input is never written to
    assert est.transform(X).dtype == dtype
    assert est.predict_proba(X).dtype == dtype
    assert est.cluster_centers_.dtype == dtype
    # The network trains in float32 whatever X's dtype; outputs follow X.
    assert next(est.module_.parameters()).dtype == torch.float32


def test_read_only_memmap(blobs, tmp_path):
    X, _ = blobs
    path = tmp_path / "X.dat"
    X.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    assert not mm.flags.writeable
    est = dec(max_epochs=2).fit(mm)
    np.testing.assert_array_equal(est.predict(mm), est.labels_)
    np.testing.assert_array_equal(est.transform(mm), est.transform(X))
    np.testing.assert_array_equal(np.asarray(mm), X)


def test_dataframe_feature_names(blobs):
    pd = pytest.importorskip("pandas")
    X, _ = blobs
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = dec(max_epochs=2).fit(df)
    np.testing.assert_array_equal(est.feature_names_in_, df.columns)
    np.testing.assert_array_equal(est.predict(df), est.labels_)
    # Refitting on an array forgets the names.
    est.fit(X)
    assert not hasattr(est, "feature_names_in_")


# -- the autoencoder= parameter -------------------------------------------------------------
def test_unfitted_autoencoder_is_not_fitted_in_place(blobs):
    X, _ = blobs
    ae = AutoEncoder(**AE_TINY)
    params = ae.get_params()
    est = dec(autoencoder=ae).fit(X)
    assert not hasattr(ae, "net_") and not hasattr(ae, "n_features_in_")
    assert ae.get_params() == params
    assert est.autoencoder is ae
    assert_valid_labels(est.labels_, 3, len(X))


def test_fitted_autoencoder_is_reused_without_refitting(X, fitted_ae, monkeypatch):
    before = _state(fitted_ae.module_)
    Z_before = fitted_ae.transform(X)
    calls = _count_autoencoder_fits(monkeypatch)
    est = dec(autoencoder=fitted_ae, gamma=0.1, max_epochs=3, tol=0.0).fit(X)
    assert calls == []
    assert _states_equal(_state(fitted_ae.module_), before)
    np.testing.assert_array_equal(fitted_ae.transform(X), Z_before)
    # The clusterer trained its own copy: its encoder moved away from the pretrained one.
    assert est.module_.encoder is not fitted_ae.module_.encoder
    assert not np.allclose(est.transform(X), Z_before)


def test_fitted_autoencoder_in_float64_fit(X, fitted_ae):
    before = _state(fitted_ae.module_)
    est = dec(autoencoder=fitted_ae, max_epochs=2).fit(X.astype(np.float64))
    assert est.transform(X.astype(np.float64)).dtype == np.float64
    assert _states_equal(_state(fitted_ae.module_), before)


def test_frozen_autoencoder_in_grid_search(X, fitted_ae, monkeypatch):
    before = _state(fitted_ae.module_)
    calls = _count_autoencoder_fits(monkeypatch)
    grid = GridSearchCV(dec(autoencoder=FrozenEstimator(fitted_ae), max_epochs=2),
                        {"n_clusters": [2, 3]}, cv=2).fit(X)
    assert calls == []  # never refitted, in any fold nor in the refit
    assert grid.best_params_["n_clusters"] in (2, 3)
    assert _states_equal(_state(fitted_ae.module_), before)


def test_fitted_autoencoder_with_wrong_n_features(X, fitted_ae):
    with pytest.raises(ValueError, match=r"autoencoder was fitted on 64 features.*10 features"):
        dec(autoencoder=fitted_ae).fit(X[:, :10])


def test_autoencoder_of_wrong_type():
    with pytest.raises((TypeError, ValueError), match="autoencoder"):
        dec(autoencoder=StandardScaler()).fit(np.random.RandomState(0).rand(20, 4))


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(gamma=-1.0), "'gamma'"),
        (dict(alpha=0.0), "'alpha'"),
        (dict(update_interval=0), "'update_interval'"),
        (dict(augment_clustering="sometimes"), "'augment_clustering'"),
        (dict(max_epochs="many"), "'max_epochs'"),
    ],
)
def test_bad_parameters(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        dec(**params).fit(blobs[0])


def test_failed_refit_keeps_the_previous_model(X):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X[:100], columns=[f"px{i}" for i in range(64)])
    est = dec(max_epochs=2).fit(df)
    labels, Z = est.predict(df), est.transform(df)
    state = _state(est.module_)
    names = est.feature_names_in_.copy()
    bad = X[:50].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad)
    # A failure after validation (different width, too few rows for n_clusters=20).
    with pytest.raises(ValueError, match="n_clusters"):
        est.set_params(n_clusters=20).fit(X[:10, :7])
    est.set_params(n_clusters=3)
    assert est.n_features_in_ == 64
    np.testing.assert_array_equal(est.feature_names_in_, names)
    assert _states_equal(_state(est.module_), state)
    np.testing.assert_array_equal(est.predict(df), labels)
    np.testing.assert_array_equal(est.transform(df), Z)


def test_divergence_raises_floating_point_error(X):
    # A learning rate that blows up the weights within the first epoch: the next loss is
    # NaN and training stops with an error naming the epoch and the learning rate.
    with pytest.raises(FloatingPointError, match=r"epoch \d+.*(lr|learning rate)"):
        dec(optimizer="sgd", lr=1e20).fit(X)


def test_divergence_failure_keeps_the_previous_model(X):
    est = dec(max_epochs=2).fit(X)
    labels = est.predict(X)
    with pytest.raises(FloatingPointError):
        est.set_params(optimizer="sgd", lr=1e20).fit(X)
    np.testing.assert_array_equal(est.predict(X), labels)


def test_last_step_divergence_is_not_silent(X, fitted_ae):
    """The last optimisation step sends the weights to inf/NaN: fit must not succeed.

    One target update of one batch (batch_size > n_samples, max_epochs=1) with an absurd
    learning rate. The loss of that step is finite (it is computed before the step), so
    the per-step check never fires; DESIGN §8 asks for an error rather than a model
    whose embedding is NaN and whose labels leave clusters empty.
    """
    est = dec(optimizer="sgd", lr=1e38, batch_size=512, max_epochs=1, autoencoder=fitted_ae)
    try:
        est.fit(X)
    except (FloatingPointError, ValueError) as exc:
        assert "lr" in str(exc) or "learning rate" in str(exc)
        assert not hasattr(est, "labels_")
        return
    assert np.isfinite(est.transform(X)).all(), "fit succeeded with a NaN/inf embedding"
    assert_valid_labels(est.labels_, 3, len(X))


def test_small_data_gets_the_small_data_recipe(X):
    est = DECClusterer(n_clusters=3, pretrain_epochs=1, max_epochs=1, n_init=2,
                       random_state=0).fit(X[:200])
    assert est.net_.batch_size == 64
    linears = [m for m in est.module_.encoder if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [256, 256, 512, 10]


# -- augmented clustering phase (DEC-DA, IDEC-DA) ------------------------------------------
def _images(side, n=120, seed=0):
    """``n`` rows of ``side x side`` values in [0, 1]: images to ``image_shape="auto"``."""
    return np.random.default_rng(seed).random((n, side * side), dtype=np.float32)


@pytest.fixture
def augmented_batches(monkeypatch):
    """Shapes of the batches that ImageAugmentation transforms, in call order."""
    from skdeepcluster._training import ImageAugmentation

    shapes = []
    call = ImageAugmentation.__call__

    def spy(self, x, generator):
        shapes.append(self.image_shape)
        return call(self, x, generator)

    monkeypatch.setattr(ImageAugmentation, "__call__", spy)
    return shapes


@pytest.mark.parametrize("gamma", [0.0, 0.1], ids=["DEC", "IDEC"])
@pytest.mark.parametrize(
    "side, ae_params, params, augmented",
    [
        (16, {}, {}, True),  # "auto": images of 16 x 16 or more
        (8, {}, {}, False),  # "auto": smaller images are not
        (16, {}, dict(augment=False), False),  # "auto" follows augment
        (16, dict(image_shape=None), {}, False),  # the pretraining's rows are not images
        (16, dict(image_shape=None), dict(augment_clustering=False), False),
        (8, {}, dict(augment_clustering=True), True),
        (8, {}, dict(augment_clustering=np.True_), True),
        (16, {}, dict(augment_clustering=False), False),
        (16, {}, dict(augment_clustering=np.False_), False),
    ],
)
def test_augment_clustering_decides_what_the_clustering_phase_sees(
        side, ae_params, params, augmented, gamma, augmented_batches):
    X = _images(side)
    # A plain pretrained autoencoder: every augmentation counted is the clustering phase's.
    ae = AutoEncoder(**AE_TINY, augment=False, **ae_params).fit(X)
    assert augmented_batches == []
    est = dec(gamma=gamma, autoencoder=ae, max_epochs=2, tol=0.0, **params).fit(X)
    assert bool(augmented_batches) == augmented
    if augmented:  # every training batch of the phase, as images of X's shape
        assert len(augmented_batches) == sum(h["train_batch_count"] for h in est.history_)
        assert set(augmented_batches) == {(1, side, side)}
    # The labels are those of the images themselves, as predict gives them.
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_augment_clustering_follows_the_pretraining_not_the_estimators_image_shape(
        augmented_batches):
    X = _images(16)
    ae = AutoEncoder(**AE_TINY, augment=False).fit(X)  # its rows are 16 x 16 images
    dec(autoencoder=ae, image_shape=None, max_epochs=1, tol=0.0).fit(X)
    assert set(augmented_batches) == {(1, 16, 16)}
    augmented_batches.clear()
    dec(image_shape=None, max_epochs=1, tol=0.0).fit(X)  # pretrains on non-images
    assert augmented_batches == []


def test_augment_clustering_true_on_rows_that_are_not_images(blobs):
    with pytest.raises(ValueError, match="augment_clustering=True needs rows that are images"):
        dec(augment_clustering=True).fit(blobs[0])


def test_augmented_clustering_phase_is_reproducible_and_pickles(augmented_batches):
    import pickle

    X = _images(16)
    ae = AutoEncoder(**AE_TINY, augment=False).fit(X)
    a = dec(autoencoder=ae, gamma=0.1, max_epochs=2, tol=0.0).fit(X)
    b = dec(autoencoder=ae, gamma=0.1, max_epochs=2, tol=0.0).fit(X)
    plain = dec(autoencoder=ae, gamma=0.1, max_epochs=2, tol=0.0,
                augment_clustering=False).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert not np.array_equal(a.transform(X), plain.transform(X))
    loaded = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(loaded.predict(X), a.predict(X))


@pytest.mark.parametrize("side, steps, expected", [(16, 10, 3), (16, 4000, 40), (8, 10, 100)])
def test_max_epochs_auto_bounds_an_augmented_phase(side, steps, expected, monkeypatch):
    import skdeepcluster._dec as dec_module

    # 120 rows at batch size 32: 4 steps per epoch, so 10 steps are 3 epochs; 4,000
    # steps leave the 40-epoch bound; plain (8 x 8) phases keep their 100 epochs
    # (within their own, larger bound of steps).
    monkeypatch.setattr(dec_module, "AUGMENTED_CLUSTERING_STEPS", steps)
    X = _images(side)
    ae = AutoEncoder(**AE_TINY, augment=False).fit(X)
    est = dec(autoencoder=ae, max_epochs="auto", tol=0.0).fit(X)
    assert est.n_iter_ == expected


@pytest.mark.parametrize("steps, expected", [(10, 3), (6000, 100)])
def test_max_epochs_auto_bounds_a_plain_phase_by_steps(steps, expected, monkeypatch):
    import skdeepcluster._dec as dec_module

    # Not augmented (8 x 8 images): 100 epochs, or fewer when the steps run out first
    # (120 rows at batch size 32: 4 steps per epoch).
    monkeypatch.setattr(dec_module, "CLUSTERING_STEPS", steps)
    X = _images(8)
    ae = AutoEncoder(**AE_TINY, augment=False).fit(X)
    est = dec(autoencoder=ae, gamma=0.1, max_epochs="auto", tol=0.0).fit(X)
    assert est.n_iter_ == expected

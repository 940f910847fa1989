"""DCNClusterer: the mini-batch k-means step, the model, errors.

The API every estimator shares (Pipeline, GridSearchCV, clone, pickle, bad input, shared
parameters) is tested in test_api.py.
"""

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.datasets import make_blobs

from skdeepcluster import AutoEncoder, DCNClusterer
from skdeepcluster._kmeans import online_center_update
from skdeepcluster._losses import dcn_loss

from _instances import assert_valid_labels

TINY = dict(hidden_dims=(16,), latent_dim=3, batch_size=32, pretrain_epochs=5, max_epochs=5,
            n_init=3, device="cpu", random_state=0)
AE_TINY = dict(hidden_dims=(16,), latent_dim=3, batch_size=32, max_epochs=5, device="cpu",
               random_state=0)


def dcn(**kw):
    return DCNClusterer(**{"n_clusters": 3, **TINY, **kw})


@pytest.fixture(scope="module")
def X():
    from sklearn.datasets import load_digits

    return (load_digits().data[:300] / 16.0).astype(np.float32)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, centers=3, n_features=6, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(X):
    return dcn(tol=0.0).fit(X)


@pytest.fixture(scope="module")
def fitted_ae(X):
    return AutoEncoder(**AE_TINY).fit(X)


# -- the online centre update ---------------------------------------------------------------
_finite = st.floats(-100, 100, allow_nan=False, width=64)


@settings(max_examples=50, deadline=None)
@given(
    data=st.data(),
    k=st.integers(1, 4),
    d=st.integers(1, 3),
    n=st.integers(1, 20),
    c0=st.integers(0, 200),
)
def test_center_update_is_the_running_mean(data, k, d, n, c0):
    mu0 = data.draw(arrays(np.float64, (k, d), elements=_finite))
    Z = data.draw(arrays(np.float64, (n, d), elements=_finite))
    labels = data.draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    counts0 = torch.full((k,), c0, dtype=torch.int64)

    # The paper's rule, one sample at a time: c += 1; mu -= (mu - z) / c.
    seq_mu, seq_c = torch.from_numpy(mu0.copy()), counts0.clone()
    for z, j in zip(Z, labels):
        seq_mu, seq_c = online_center_update(seq_mu, seq_c, torch.from_numpy(z[None]),
                                             torch.tensor([j]))
    # The whole batch in one step.
    mu, c = online_center_update(torch.from_numpy(mu0), counts0, torch.from_numpy(Z),
                                 torch.from_numpy(labels))

    n_k = np.bincount(labels, minlength=k)
    sums = np.zeros((k, d))
    np.add.at(sums, labels, Z)
    expected = np.where(n_k[:, None] > 0,
                        (c0 * mu0 + sums) / np.maximum(c0 + n_k, 1)[:, None], mu0)
    np.testing.assert_array_equal(c.numpy(), c0 + n_k)
    np.testing.assert_array_equal(seq_c.numpy(), c0 + n_k)
    np.testing.assert_allclose(mu.numpy(), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(seq_mu.numpy(), expected, rtol=1e-9, atol=1e-9)


def test_center_update_matches_the_papers_step_and_leaves_inputs_alone():
    mu = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    counts = torch.tensor([1, 3])
    z = torch.tensor([[4.0, 2.0]])
    new_mu, new_counts = online_center_update(mu, counts, z, torch.tensor([1]))
    # c = 4; mu <- mu - (mu - z) / 4
    torch.testing.assert_close(new_mu, torch.tensor([[0.0, 0.0], [8.5, 8.0]]))
    assert new_counts.tolist() == [1, 4]
    assert mu.tolist() == [[0.0, 0.0], [10.0, 10.0]] and counts.tolist() == [1, 3]


def test_dcn_loss_convention():
    gen = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(5, 7, generator=gen), torch.rand(5, 7, generator=gen)
    z, mu = torch.rand(5, 2, generator=gen), torch.rand(5, 2, generator=gen)
    expected = ((x - x_hat) ** 2).sum() / 35 + 0.25 / 2 * ((z - mu) ** 2).sum() / 5
    torch.testing.assert_close(dcn_loss(x_hat, x, z, mu, 0.25), expected)


# -- the fitted model ---------------------------------------------------------------------
def test_fitted_attributes_are_consistent(X, fitted):
    k = fitted.n_clusters
    assert_valid_labels(fitted.labels_, k, len(X))
    np.testing.assert_array_equal(fitted.labels_, fitted.predict(X))
    np.testing.assert_array_equal(clone(fitted).fit_predict(X), fitted.labels_)  # same seed
    assert fitted.cluster_centers_.shape == (k, 3)
    assert fitted.n_features_in_ == X.shape[1]
    assert fitted.device_ == torch.device("cpu")
    Z = fitted.transform(X)
    assert Z.shape == (len(X), 3)
    d2 = ((Z[:, None] - fitted.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(fitted.predict(X), d2.argmin(1))
    assert not hasattr(fitted, "predict_proba")


def test_counts_history_and_iterations(X, fitted):
    assert fitted.n_iter_ == 5 == len(fitted.history_)
    assert all(np.isfinite(row["train_loss"]) for row in fitted.history_)
    assert all(0.0 <= row["delta_label"] <= 1.0 for row in fitted.history_)
    # Each epoch feeds every sample once to the centre update.
    assert fitted.counts_.shape == (3,)
    assert fitted.counts_.sum() == 3 * 100 + len(X) * fitted.n_iter_
    assert np.all(fitted.counts_ >= 100)


def test_centres_are_not_trainable_and_the_network_is_the_autoencoder(X, fitted, fitted_ae):
    names = {name for name, _ in fitted.module_.named_parameters()}
    assert names == {name for name, _ in fitted_ae.module_.named_parameters()}
    x_hat, z = fitted.module_(torch.from_numpy(X[:4]))
    assert x_hat.shape == (4, X.shape[1]) and z.shape == (4, 3)
    # The training state (the phase, with centres and assignments) does not stay on the net.
    assert fitted.net_._run is None
    assert "_run" not in fitted.net_.__getstate__()


def test_training_moves_centres_and_assignments_each_batch(X, fitted_ae):
    from skdeepcluster._dcn import _DCNNet

    seen = []
    original = _DCNNet.train_step

    def spy(self, batch, **kw):
        phase = self._run.phase
        before = phase.centers.clone(), phase.counts.clone()
        step = original(self, batch, **kw)
        seen.append((before, (phase.centers.clone(), phase.counts.clone()), len(batch[0])))
        return step

    _DCNNet.train_step = spy
    try:
        dcn(autoencoder=fitted_ae, max_epochs=1, initial_count=10).fit(X)
    finally:
        _DCNNet.train_step = original
    assert len(seen) == 10  # 300 samples / 32 per batch
    for (mu0, c0), (mu1, c1), n in seen:
        assert int((c1 - c0).sum()) == n
        assert not torch.equal(mu0, mu1)


def test_tol_controls_early_stopping(X, fitted_ae):
    early = dcn(tol=1.0, max_epochs=10, autoencoder=fitted_ae).fit(X)
    full = dcn(tol=0.0, max_epochs=10, autoencoder=fitted_ae).fit(X)
    assert early.n_iter_ == 1
    assert early.history_[-1]["delta_label"] < 1.0
    assert full.n_iter_ == 10


def test_max_epochs_zero_is_kmeans_on_the_autoencoder(X, fitted_ae):
    est = dcn(max_epochs=0, autoencoder=fitted_ae).fit(X)
    assert est.n_iter_ == 0
    np.testing.assert_allclose(est.transform(X), fitted_ae.transform(X), rtol=1e-6)
    assert_valid_labels(est.labels_, 3, len(X))
    np.testing.assert_array_equal(est.counts_, [100, 100, 100])


def test_kmeans_interval_reruns_kmeans(X, fitted_ae, monkeypatch):
    import skdeepcluster._dcn as dcn_module

    calls = []
    original = dcn_module.refine_kmeans

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(dcn_module, "refine_kmeans", counting)
    est = dcn(kmeans_interval=2, max_epochs=5, tol=0.0, autoencoder=fitted_ae).fit(X)
    assert len(calls) == 2 + 1  # epochs 2 and 4, and the final pass
    assert_valid_labels(est.labels_, 3, len(X))
    calls.clear()
    dcn(max_epochs=5, tol=0.0, autoencoder=fitted_ae).fit(X)
    assert len(calls) == 1


def test_score_is_negative_objective(X, fitted):
    s = fitted.score(X)
    Z = fitted.transform(X)
    # X lies in [0, 1]: the default pretraining (and DCN's reconstruction term) is the
    # binary cross-entropy of the decoder's logits.
    assert fitted.module_.loss == "binary_cross_entropy"
    with torch.no_grad():
        logits = fitted.module_(torch.from_numpy(X))[0].double()
        mse = float(F.binary_cross_entropy_with_logits(logits, torch.from_numpy(X).double()))
    dist = ((Z[:, None] - fitted.cluster_centers_[None]) ** 2).sum(-1).min(1).mean()
    assert s == pytest.approx(-(mse + fitted.lam / 2 * dist), rel=1e-4)
    # The k-means term counts: the same model scored without it is better.
    assert s < copy.deepcopy(fitted).set_params(lam=0.0).score(X) == pytest.approx(-mse, rel=1e-4)


def test_lam_zero_is_autoencoder_fine_tuning(X, fitted_ae):
    est = dcn(lam=0.0, autoencoder=fitted_ae, max_epochs=2).fit(X)
    assert np.isfinite(est.history_[-1]["train_loss"])
    assert est.score(X) == pytest.approx(fitted_ae.score(X), rel=0.5)


def test_reconstruction_term_is_the_autoencoders_loss(X):
    ae = AutoEncoder(**AE_TINY, loss="binary_cross_entropy").fit(X)
    est = dcn(lam=0.0, autoencoder=ae, max_epochs=2).fit(X)
    assert est.module_.loss == "binary_cross_entropy"
    # With lam=0 the score is minus the reconstruction loss, as the autoencoder's.
    fine_tuned = copy.deepcopy(ae)
    fine_tuned.net_.module_ = est.module_
    assert est.score(X) == pytest.approx(fine_tuned.score(X), rel=1e-5)
    assert est.score(X) > ae.score(X)  # fine-tuning the same loss improved it


def test_n_clusters_one(blobs):
    X, _ = blobs
    est = dcn(n_clusters=1).fit(X)
    assert np.all(est.labels_ == 0)
    np.testing.assert_allclose(est.cluster_centers_, est.transform(X).mean(0, keepdims=True),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("initial_count", [0, 1])
def test_empty_clusters_are_reseeded_and_labels_stay_in_range(blobs, initial_count):
    # 3 blobs but 8 clusters and tiny counts: centres wander, clusters empty during training.
    X, _ = blobs
    est = dcn(n_clusters=8, initial_count=initial_count, lr=1e-2, lam=5.0, tol=0.0).fit(X)
    assert_valid_labels(est.labels_, 8, len(X))
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_fewer_distinct_points_than_clusters_does_not_crash():
    X = np.repeat(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=np.float32), 20, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k-means warns about fewer distinct points
        est = dcn(n_clusters=4, max_epochs=2, batch_size=8).fit(X)
    assert est.labels_.min() >= 0 and est.labels_.max() < 4
    np.testing.assert_array_equal(est.predict(X), est.labels_)


# -- seeds, dtypes, the autoencoder= parameter (the shared API is in test_api.py) ---------
def test_same_seed_is_reproducible_and_other_seeds_valid(blobs):
    X, _ = blobs
    a, b = dcn(random_state=3).fit(X), dcn(random_state=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.counts_, b.counts_)
    assert [r["train_loss"] for r in a.history_] == [r["train_loss"] for r in b.history_]
    other = dcn(random_state=4).fit(X)
    assert not np.allclose(a.transform(X), other.transform(X))
    assert_valid_labels(other.labels_, 3, len(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(blobs, dtype):
    X = blobs[0].astype(dtype)
    est = dcn(max_epochs=2).fit(X)
    assert est.transform(X).dtype == dtype
    assert est.cluster_centers_.dtype == dtype


def test_mixed_precision(blobs):
    X, _ = blobs
    est = dcn(mixed_precision=True, max_epochs=2).fit(X)
    assert_valid_labels(est.labels_, 3, len(X))
    assert est.transform(X).dtype == np.float32


def test_fitted_autoencoder_is_reused_without_refitting(X, fitted_ae):
    Z_before = fitted_ae.transform(X)
    est = dcn(autoencoder=fitted_ae, max_epochs=3, tol=0.0, lam=1.0).fit(X)
    np.testing.assert_array_equal(fitted_ae.transform(X), Z_before)
    assert est.module_ is not fitted_ae.module_
    assert not np.allclose(est.transform(X), Z_before)


def test_autoencoder_architecture_is_taken_from_the_fitted_autoencoder(X):
    ae = AutoEncoder(**{**AE_TINY, "hidden_dims": (20, 12), "latent_dim": 4}).fit(X)
    est = dcn(autoencoder=ae, max_epochs=1).fit(X)  # hidden_dims/latent_dim ignored
    assert est.transform(X).shape == (len(X), 4)
    assert est.cluster_centers_.shape == (3, 4)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(lam=-1.0), "'lam'"),
        (dict(initial_count=-1), "'initial_count'"),
        (dict(kmeans_interval=0), "'kmeans_interval'"),
    ],
)
def test_bad_parameters(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        dcn(**params).fit(blobs[0])


def test_divergence_is_reported_and_leaves_no_fitted_state(blobs):
    X = blobs[0] * 1e3
    est = dcn(optimizer="sgd", lr=1e3, lam=10.0, pretrain_epochs=0, max_epochs=5)
    with pytest.raises(FloatingPointError, match="lr"):
        est.fit(X)
    assert not hasattr(est, "labels_") and not hasattr(est, "net_")

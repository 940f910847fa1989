"""VaDEClusterer: the ELBO against numpy, the model, errors.

The API every estimator shares (Pipeline, GridSearchCV, clone, pickle, bad input, shared
parameters) is tested in test_api.py; that a grid search without scoring ranks VaDE by
the ELBO follows from there and from test_score_is_the_mean_elbo_at_the_posterior_mean.
"""

import random
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import logsumexp
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import adjusted_rand_score

from skdeepcluster import AutoEncoder, VaDEClusterer
from skdeepcluster._losses import (
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    gmm_log_joint,
    vade_elbo,
    vade_kl,
)
from skdeepcluster.nn import GMMPrior, VaDEModule

from _instances import assert_valid_labels

TINY = dict(hidden_dims=(16,), latent_dim=3, batch_size=32, pretrain_epochs=5, max_epochs=5,
            n_init=2, device="cpu", random_state=0)
AE_TINY = dict(hidden_dims=(16,), latent_dim=3, batch_size=32, max_epochs=5, device="cpu",
               random_state=0)
#: The default learning rate of the clustering phase.
LR = VaDEClusterer().lr
PRIOR_LR = VaDEClusterer().prior_lr


def vade(**kw):
    return VaDEClusterer(**{"n_clusters": 3, **TINY, **kw})


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
    return vade().fit(X)


@pytest.fixture(scope="module")
def fitted_gaussian(blobs):
    # Raw blobs (not in [0, 1]): a Gaussian decoder, trained long enough to generate.
    return vade(pretrain_epochs=30, max_epochs=10).fit(blobs[0])


@pytest.fixture(scope="module")
def fitted_ae(X):
    return AutoEncoder(**AE_TINY, loss="squared_error").fit(X)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- the ELBO, piece by piece, against numpy ------------------------------------------------
SETTINGS = settings(max_examples=25, deadline=None)
reals = st.floats(-5, 5, allow_nan=False, allow_infinity=False, width=64)
log_vars = st.floats(-4, 3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def vade_inputs(draw):
    n, k, d, f = (draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 4)),
                  draw(st.integers(1, 5)))
    return dict(
        mu=draw(arrays(np.float64, (n, d), elements=reals)),
        log_var=draw(arrays(np.float64, (n, d), elements=log_vars)),
        eps=draw(arrays(np.float64, (n, d), elements=st.floats(-3, 3, width=64))),
        logits=draw(arrays(np.float64, (k,), elements=st.floats(-3, 3, width=64))),
        means=draw(arrays(np.float64, (k, d), elements=reals)),
        log_vars=draw(arrays(np.float64, (k, d), elements=log_vars)),
        x=draw(arrays(np.float64, (n, f), elements=st.floats(0, 1, width=64))),
        out=draw(arrays(np.float64, (n, f), elements=st.floats(-20, 20, width=64))),
        dec_log_var=draw(log_vars),
    )


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _np_log_joint(z, log_pi, means, log_vars):
    var = np.exp(log_vars)
    out = np.empty((len(z), len(means)))
    for i in range(len(z)):
        for c in range(len(means)):
            out[i, c] = log_pi[c] + sum(
                -0.5 * np.log(2 * np.pi * var[c, j]) - (z[i, j] - means[c, j]) ** 2
                / (2 * var[c, j]) for j in range(z.shape[1]))
    return out


@SETTINGS
@given(vade_inputs())
def test_gmm_log_joint_and_posterior_match_numpy(d):
    log_pi = d["logits"] - logsumexp(d["logits"])
    z = d["mu"]
    got = gmm_log_joint(_t(z), _t(log_pi), _t(d["means"]), _t(d["log_vars"])).numpy()
    want = _np_log_joint(z, log_pi, d["means"], d["log_vars"])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    prior = GMMPrior(len(log_pi), z.shape[1]).double()
    prior.set(np.exp(log_pi), d["means"], np.exp(d["log_vars"]))
    with torch.no_grad():
        gamma = torch.exp(prior(_t(z))).numpy()
    np.testing.assert_allclose(gamma, np.exp(want - logsumexp(want, axis=1, keepdims=True)),
                               rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(gamma.sum(1), 1.0, atol=1e-12)


@SETTINGS
@given(vade_inputs())
def test_likelihoods_match_numpy(d):
    x, out = d["x"], d["out"]
    p = 1 / (1 + np.exp(-out))
    want = (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(1)
    got = bernoulli_log_likelihood(_t(out), _t(x)).numpy()
    finite = np.isfinite(want)  # numpy's log(p) underflows for large |logits|
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-8, atol=1e-8)
    assert np.isfinite(got).all()
    var = np.exp(d["dec_log_var"])
    want = (-0.5 * np.log(2 * np.pi * var) - (x - out) ** 2 / (2 * var)).sum(1)
    got = gaussian_log_likelihood(_t(out), _t(d["dec_log_var"]), _t(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(vade_inputs())
def test_elbo_matches_equation_11_of_the_paper(d):
    """``vade_elbo`` against a direct transcription of Jiang et al. (2017), eq. 11."""
    mu, log_var, eps = d["mu"], d["log_var"], d["eps"]
    z = mu + np.exp(0.5 * log_var) * eps
    log_pi = d["logits"] - logsumexp(d["logits"])
    means, var_c = d["means"], np.exp(d["log_vars"])
    log_px = np.random.RandomState(0).randn(len(mu))  # any reconstruction term
    joint = _np_log_joint(z, log_pi, means, d["log_vars"])
    gamma = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    var = np.exp(log_var)
    want = np.empty(len(mu))
    for i in range(len(mu)):
        term_z = sum(gamma[i, c] * np.sum(np.log(var_c[c]) + var[i] / var_c[c]
                                          + (mu[i] - means[c]) ** 2 / var_c[c])
                     for c in range(len(means)))
        term_c = sum(gamma[i, c] * (log_pi[c] - np.log(gamma[i, c]))
                     for c in range(len(means)) if gamma[i, c] > 0)
        want[i] = log_px[i] - 0.5 * term_z + term_c + 0.5 * np.sum(1 + log_var[i])
    got = vade_elbo(_t(log_px), _t(mu), _t(log_var), _t(z), _t(log_pi), _t(means),
                    _t(d["log_vars"])).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


@SETTINGS
@given(vade_inputs())
def test_kl_is_nonnegative_and_zero_when_q_equals_the_prior(d):
    log_pi = d["logits"] - logsumexp(d["logits"])
    args = (_t(log_pi), _t(d["means"]), _t(d["log_vars"]))
    z = _t(d["mu"])
    log_gamma = torch.log_softmax(gmm_log_joint(z, *args), 1)
    assert (vade_kl(z, _t(d["log_var"]), log_gamma, *args) >= -1e-10).all()
    # q(z, c | x) = p(z, c) when the mixture has one component and q is that component.
    m, lv = _t(d["means"][:1]), _t(d["log_vars"][:1])
    kl = vade_kl(m, lv, torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1,
                 dtype=torch.float64), m, lv)
    np.testing.assert_allclose(kl.numpy(), 0.0, atol=1e-12)


def test_posterior_is_finite_far_from_every_component():
    # Distances whose densities underflow to 0 in linear space: log-sum-exp keeps gamma
    # a distribution and the ELBO finite.
    prior = GMMPrior(3, 2)
    prior.set([0.2, 0.3, 0.5], [[0, 0], [1, 1], [2, 2]], np.full((3, 2), 1e-4))
    z = torch.tensor([[1e3, -1e3], [0.5, 0.5]])
    with torch.no_grad():
        gamma = torch.exp(prior(z))
        elbo = vade_elbo(torch.zeros(2), z, torch.full((2, 2), -30.0), z,
                         prior.log_weights(), prior.means, prior.clamped_log_vars())
    assert torch.isfinite(gamma).all() and torch.isfinite(elbo).all()
    np.testing.assert_allclose(gamma.sum(1).numpy(), 1.0, rtol=1e-6)


def test_module_starts_from_the_pretrained_autoencoder(X, fitted_ae):
    ae = fitted_ae.module_
    module = VaDEModule(64, (16,), 3, n_components=3).eval()
    module.load_pretrained(ae, logit_scale=8.0, encoder_log_var=-3.0)
    x = torch.from_numpy(X[:20])
    with torch.no_grad():
        x_hat, z = ae(x)
        out, mu, log_var, z_used = module(x)
    torch.testing.assert_close(mu, z)
    torch.testing.assert_close(z_used, mu)  # eval mode: no noise
    torch.testing.assert_close(log_var, torch.full_like(mu, -3.0))
    torch.testing.assert_close(out, 8.0 * (x_hat - 0.5), rtol=1e-5, atol=1e-5)
    # The pretrained module is not modified.
    with torch.no_grad():
        torch.testing.assert_close(ae(x)[0], x_hat)
    module.train()
    with torch.no_grad():
        assert not torch.equal(module(x)[3], mu)  # training mode: reparameterised sample


def test_bernoulli_decoder_takes_over_a_cross_entropy_decoder(X):
    ae = AutoEncoder(loss="binary_cross_entropy", **AE_TINY).fit(X)
    module = VaDEModule(64, (16,), 3, n_components=3).eval()
    module.load_pretrained(ae.module_, logit_scale=8.0)  # the scale is for squared error
    x = torch.from_numpy(X[:20])
    with torch.no_grad():
        logits, z = ae.module_(x)
        torch.testing.assert_close(module(x)[0], logits)
        torch.testing.assert_close(module.decode_mean(z), ae.module_.decode(z))


@pytest.mark.parametrize("likelihood, data, loss", [
    ("auto", "X", "binary_cross_entropy"),
    ("bernoulli", "X", "binary_cross_entropy"),
    ("gaussian", "X", "huber"),
    ("auto", "blobs", "huber"),
])
def test_pretraining_loss_matches_the_decoder(X, blobs, monkeypatch, likelihood, data, loss):
    seen = []
    original = AutoEncoder._fit

    def spy(self, *args):
        seen.append(self.loss)
        return original(self, *args)

    monkeypatch.setattr(AutoEncoder, "_fit", spy)
    data = X if data == "X" else blobs[0]
    vade(likelihood=likelihood, pretrain_epochs=1, max_epochs=1).fit(data)
    assert seen == [loss]


def test_partition_moments_are_an_m_step_of_hard_assignments():
    from skdeepcluster._vade import _partition_moments

    rng = np.random.RandomState(0)
    Z = rng.randn(9, 2)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2])  # cluster 2: one point; cluster 3: none
    weights, means, variances = _partition_moments(Z, labels, 4, reg_covar=1e-6)
    np.testing.assert_allclose(weights[:3] / weights[:3].sum(), [4 / 9, 4 / 9, 1 / 9])
    assert 0 < weights[3] < 1e-3 and weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(means[:3], [Z[:4].mean(0), Z[4:8].mean(0), Z[8]])
    np.testing.assert_allclose(means[3], Z.mean(0))
    np.testing.assert_allclose(variances[:2], [Z[:4].var(0) + 1e-6, Z[4:8].var(0) + 1e-6])
    # One point or none: the variance of the whole data.
    np.testing.assert_allclose(variances[2:], [Z.var(0) + 1e-6] * 2)


def test_kmeans_moments_assign_as_kmeans():
    from skdeepcluster._vade import _kmeans_moments, _partition_moments

    rng = np.random.RandomState(0)
    # Clusters of different sizes and very different spreads, where the clusters' own
    # weights and variances would take points from the nearest mean.
    Z = np.concatenate([rng.randn(200, 2) * 3, rng.randn(20, 2) * 0.3 + [2.5, 0]])
    labels = ((Z[:, None] - [[0.0, 0.0], [2.5, 0.0]]) ** 2).sum(-1).argmin(1)
    weights, means, variances = _kmeans_moments(Z, labels, 2)
    _, own_means, own_variances = _partition_moments(Z, labels, 2)
    np.testing.assert_allclose(weights, [0.5, 0.5])
    np.testing.assert_allclose(means, own_means)
    counts = np.bincount(labels)
    pooled = ((own_variances * counts[:, None]).sum(0) / counts.sum()).mean()
    np.testing.assert_allclose(variances, np.full((2, 2), pooled))

    def assign(w, m, v):
        return gmm_log_joint(torch.as_tensor(Z), torch.log(torch.as_tensor(w)),
                             torch.as_tensor(m), torch.log(torch.as_tensor(v))).argmax(1)

    nearest = ((Z[:, None] - means) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(assign(weights, means, variances).numpy(), nearest)
    own = _partition_moments(Z, labels, 2)
    assert (assign(*own).numpy() != nearest).sum() > 0  # the start it replaces


def test_kmeans_moments_keep_an_empty_cluster_out_of_the_way():
    from skdeepcluster._vade import _kmeans_moments

    # A Gaussian mixture's partition can leave a component without points: it sits at
    # the overall mean, which must not take the central points from the others.
    Z = np.array([[-2.0, 0.0], [-2.2, 0.1], [2.0, 0.0], [2.1, -0.1], [0.1, 0.0]])
    labels = np.array([0, 0, 1, 1, 1])
    weights, means, variances = _kmeans_moments(Z, labels, 3)
    assert weights[2] < 1e-3 and weights[0] == weights[1]
    np.testing.assert_allclose(weights.sum(), 1.0)
    np.testing.assert_allclose(means[2], Z.mean(0))
    log_joint = gmm_log_joint(torch.as_tensor(Z), torch.log(torch.as_tensor(weights)),
                              torch.as_tensor(means), torch.log(torch.as_tensor(variances)))
    assert (log_joint.argmax(1).numpy() != 2).all()


def test_initial_mixture_is_the_kmeans_model_unless_pretrained_on_augmented_images(X):
    # Digits as 8 x 8 images: pretrained on augmented copies, each component starts
    # with its cluster's weight and variances; without augmentation, as the k-means
    # model (equal weights, one spherical variance: the nearest mean is the most
    # probable component).
    augmented = vade(max_epochs=0).fit(X)
    assert np.ptp(augmented.weights_) > 1e-3 and np.ptp(augmented.covariances_) > 1e-3
    plain = vade(max_epochs=0, augment=False).fit(X)
    np.testing.assert_allclose(plain.weights_, 1 / 3, rtol=1e-5)
    np.testing.assert_allclose(plain.covariances_, plain.covariances_[0, 0], rtol=1e-5)
    Z = plain.transform(X)
    nearest = ((Z[:, None] - plain.means_) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(plain.labels_, nearest)
    # A given autoencoder decides by how it was pretrained, not by VaDE's ``augment``.
    given = AutoEncoder(loss="binary_cross_entropy", augment=False, **AE_TINY).fit(X)
    from_given = vade(max_epochs=0, autoencoder=given).fit(X)
    np.testing.assert_allclose(from_given.weights_, 1 / 3, rtol=1e-5)
    given = AutoEncoder(loss="binary_cross_entropy", **AE_TINY).fit(X)  # augmented
    from_given = vade(max_epochs=0, autoencoder=given, augment=False).fit(X)
    assert np.ptp(from_given.weights_) > 1e-3


def test_zero_epochs_give_the_initial_mixture(blobs):
    # Zero VaDE epochs: the labels are those of the initial mixture (the k-means model
    # of the pretrained embedding's clusters), which on separated blobs are the
    # blobs, and its parameters are what the fitted attributes report.
    X, y = blobs
    est = vade(max_epochs=0, pretrain_epochs=30).fit(X)
    assert est.n_iter_ == 0
    assert adjusted_rand_score(y, est.labels_) == pytest.approx(1.0)
    Z = est.transform(X)
    for c in range(3):
        np.testing.assert_allclose(est.means_[c], Z[est.labels_ == c].mean(0), atol=0.1)


def test_gaussian_decoder_needs_an_autoencoder_that_outputs_the_reconstruction(X):
    ae = AutoEncoder(loss="binary_cross_entropy", **AE_TINY).fit(X)
    est = vade(likelihood="gaussian", autoencoder=ae)
    with pytest.raises(ValueError, match="likelihood='gaussian' needs an autoencoder "
                                         "whose decoder outputs the reconstruction"):
        est.fit(X)
    assert not hasattr(est, "labels_")
    for loss in ("squared_error", "huber"):
        ae = AutoEncoder(loss=loss, **AE_TINY).fit(X)
        assert vade(likelihood="gaussian", autoencoder=ae, max_epochs=1).fit(X).n_iter_ == 1


# -- the fitted model ---------------------------------------------------------------------
def test_fitted_attributes_are_consistent(X, fitted):
    k = fitted.n_clusters
    assert_valid_labels(fitted.labels_, k, len(X))
    np.testing.assert_array_equal(fitted.labels_, fitted.predict(X))
    np.testing.assert_array_equal(fitted.fit_predict(X), fitted.labels_)  # same seed
    assert fitted.likelihood_ == "bernoulli"
    assert fitted.weights_.shape == (k,) and fitted.weights_.dtype == np.float32
    np.testing.assert_allclose(fitted.weights_.sum(), 1.0, rtol=1e-5)
    assert fitted.means_.shape == fitted.covariances_.shape == (k, 3)
    assert np.all(fitted.covariances_ > 0)
    np.testing.assert_array_equal(fitted.cluster_centers_, fitted.means_)
    assert fitted.lr_ == fitted.lr
    assert 1 <= fitted.n_iter_ <= 5 and len(fitted.history_) == fitted.n_iter_
    assert all(np.isfinite(r["train_loss"]) and 0 <= r["delta_label"] <= 1
               for r in fitted.history_)


def test_predict_proba_is_the_gmm_posterior_of_the_embedding(X, fitted):
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), fitted.n_clusters) and proba.dtype == np.float32
    assert np.isfinite(proba).all() and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(1), fitted.predict(X))
    Z = fitted.transform(X).astype(np.float64)
    joint = _np_log_joint(Z[:30], np.log(fitted.weights_.astype(np.float64)),
                          fitted.means_.astype(np.float64),
                          np.log(fitted.covariances_.astype(np.float64)))
    want = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    np.testing.assert_allclose(proba[:30], want, rtol=1e-3, atol=1e-5)


def test_predictions_are_deterministic(X, fitted):
    np.testing.assert_array_equal(fitted.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(fitted.predict_proba(X), fitted.predict_proba(X))
    assert fitted.score(X) == fitted.score(X)


def test_score_is_the_mean_elbo_at_the_posterior_mean(X, fitted):
    module = fitted.module_.eval()
    x = torch.from_numpy(X)
    with torch.no_grad():
        out, mu, log_var, z = module(x)
        want = float(module.elbo(x, out, mu, log_var, mu).mean())
    assert fitted.score(X) == pytest.approx(want, rel=1e-5)
    assert fitted.score(X) < 0  # a log-likelihood bound of 64 Bernoulli pixels
    # Data unlike the training data has a lower ELBO.
    noise = np.random.RandomState(0).rand(100, 64).astype(np.float32)
    assert fitted.score(noise) < fitted.score(X)


def test_sample(X, fitted):
    Xs, ys = fitted.sample(50)
    assert Xs.shape == (50, 64) and ys.shape == (50,)
    assert Xs.dtype == np.float32 and ys.dtype == np.int64
    assert np.all((Xs >= 0) & (Xs <= 1))  # Bernoulli means
    assert set(ys) <= set(range(fitted.n_clusters))
    assert np.all(np.diff(ys) >= 0)  # grouped by component, as GaussianMixture.sample
    # Component counts are a multinomial draw with the weights and the estimator's seed.
    counts = np.random.RandomState(0).multinomial(
        50, fitted.weights_.astype(np.float64) / fitted.weights_.astype(np.float64).sum())
    np.testing.assert_array_equal(np.bincount(ys, minlength=3), counts)
    Xs2, ys2 = fitted.sample(50)
    np.testing.assert_array_equal(Xs, Xs2)
    np.testing.assert_array_equal(ys, ys2)
    assert fitted.sample()[0].shape == (1, 64)
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)
    with pytest.raises(NotFittedError):
        vade().sample(2)


def test_sample_gaussian_lands_near_its_component(blobs, fitted_gaussian):
    est = fitted_gaussian
    assert est.likelihood_ == "gaussian"
    Xs, ys = est.sample(300)
    assert Xs.shape == (300, blobs[0].shape[1])
    # Generated points are mostly assigned back to the component they came from.
    assert np.mean(est.predict(Xs) == ys) > 0.8


def test_clusters_blobs(blobs, fitted_gaussian):
    assert adjusted_rand_score(blobs[1], fitted_gaussian.labels_) > 0.9


def test_n_clusters_one(blobs):
    est = vade(n_clusters=1, max_epochs=2).fit(blobs[0])
    assert np.all(est.labels_ == 0)
    np.testing.assert_allclose(est.predict_proba(blobs[0]), 1.0)
    np.testing.assert_allclose(est.weights_, [1.0])


def test_tol_controls_early_stopping(X, fitted_ae):
    early = vade(tol=1.0, max_epochs=10, autoencoder=fitted_ae).fit(X)
    full = vade(tol=0.0, max_epochs=10, autoencoder=fitted_ae).fit(X)
    assert early.n_iter_ == 1 and early.history_[0]["delta_label"] < 1.0
    assert full.n_iter_ == 10
    # Linear warm-up over the first epoch, then the paper's schedule (x0.9 every 10
    # epochs): the 10th epoch is still at the initial rate. The recorded rate is the
    # first parameter group's, the mixture's (prior_lr).
    lrs = [b["event_lr"] for row in full.net_.history for b in row["batches"]]
    n_batches = len(full.net_.history[0]["batches"])  # 300 rows / 32 = 10 batches
    assert lrs[:n_batches] == pytest.approx([PRIOR_LR * (i + 1) / n_batches
                                             for i in range(n_batches)])
    assert lrs[n_batches:] == pytest.approx([PRIOR_LR] * (len(lrs) - n_batches))
    # Both groups follow the one schedule, each from its own initial rate.
    groups = full.net_.optimizer_.param_groups
    prior_params = set(map(id, full.net_.module_.prior.parameters()))
    rates = {all(id(p) in prior_params for p in g["params"]): g["lr"] for g in groups}
    assert len(groups) == 2 and rates[True] / rates[False] == pytest.approx(PRIOR_LR / LR)
    assert full.lr_ == LR


def test_prior_lr_none_is_lr(X, fitted_ae):
    est = vade(prior_lr=None, max_epochs=1, autoencoder=fitted_ae).fit(X)
    rates = [g["lr"] for g in est.net_.optimizer_.param_groups]
    assert len(rates) == 2 and rates[0] == pytest.approx(rates[1])


def test_likelihood_parameter(X, blobs, fitted_ae):
    est = vade(likelihood="gaussian", autoencoder=fitted_ae, max_epochs=1).fit(X)
    assert est.likelihood_ == "gaussian" and est.module_.decoder_log_var is not None
    assert np.isfinite(est.score(X))
    with pytest.raises(ValueError, match=r"likelihood='bernoulli' needs every value of X in"
                                         r" \[0, 1\]"):
        vade(likelihood="bernoulli").fit(blobs[0])


def test_reseeding_gives_every_component_a_point():
    rng = np.random.RandomState(0)
    Z = torch.from_numpy(np.vstack([rng.randn(40, 2), rng.randn(40, 2) + 6]))
    prior = GMMPrior(4, 2).double()
    # Components 2 and 3 sit far from the data and hold no point.
    prior.set([0.4, 0.4, 0.1, 0.1], [[0, 0], [6, 6], [50, 50], [-50, 50]], np.ones((4, 2)))
    with torch.inference_mode():  # as the embedding computed in fit
        Z = Z.clone()
    with torch.no_grad():
        assert len(np.unique(prior.log_joint(Z).argmax(1).numpy())) == 2
        VaDEClusterer._reseed_empty_components(prior, Z)
        labels = prior.log_joint(Z).argmax(1).numpy()
        assert_valid_labels(labels, 4, len(Z))
        np.testing.assert_allclose(torch.exp(prior.log_weights()).sum().item(), 1.0)


def test_collapse_is_retried_with_a_lower_lr_then_reported(X, fitted_ae, monkeypatch):
    runs = []
    original = VaDEClusterer._train

    def recording(self, autoencoder, init, X_, Xt, likelihood, lr, seed, **kwargs):
        runs.append(lr)
        return original(self, autoencoder, init, X_, Xt, likelihood, lr, seed, **kwargs)

    monkeypatch.setattr(VaDEClusterer, "_train", recording)
    monkeypatch.setattr(VaDEClusterer, "_occupied", lambda self, labels: 1)  # always collapsed
    with pytest.warns(ConvergenceWarning, match=f"VaDE collapsed.*1 of 3.*lr={LR / 10:g}"):
        est = vade(autoencoder=fitted_ae, max_epochs=1).fit(X)
    assert runs == [LR, LR / 10] and est.lr_ == LR / 10
    assert_valid_labels(est.labels_, 3, len(X))


def test_no_collapse_no_retry(X, fitted_ae):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = vade(autoencoder=fitted_ae, max_epochs=2).fit(X)
    assert est.lr_ == LR


# -- seeds, dtypes, display, autoencoder= (the shared API is in test_api.py) -------------
def test_same_seed_is_reproducible(blobs):
    X, _ = blobs
    a, b = vade(random_state=3).fit(X), vade(random_state=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert [r["train_loss"] for r in a.history_] == [r["train_loss"] for r in b.history_]
    other = vade(random_state=4).fit(X)
    assert not np.allclose(a.transform(X), other.transform(X))


@pytest.mark.parametrize("random_state", [None, 7])
def test_fit_does_not_touch_global_rng_state(blobs, random_state):
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    np_state, py_state = np.random.get_state(), random.getstate()
    torch_state = torch.get_rng_state()
    vade(random_state=random_state, max_epochs=2).fit(blobs[0])
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert random.getstate() == py_state
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_float64_and_mixed_precision(X):
    est = vade(max_epochs=2).fit(X.astype(np.float64))
    assert est.transform(X.astype(np.float64)).dtype == np.float64
    assert est.predict_proba(X).dtype == np.float32  # in the dtype of the input
    assert est.weights_.dtype == est.means_.dtype == np.float64
    assert est.sample(3)[0].dtype == np.float64
    bf16 = vade(max_epochs=2, mixed_precision=True).fit(X)
    assert np.isfinite(bf16.predict_proba(X)).all()
    assert_valid_labels(bf16.labels_, 3, len(X))


def test_verbose_prints_the_elbo_and_label_changes(blobs, capsys):
    vade(verbose=2, max_epochs=2, tol=0.0).fit(blobs[0])
    out = capsys.readouterr().out
    assert "train_loss" in out and "delta_label" in out
    vade(verbose=1, max_epochs=2, tol=0.0).fit(blobs[0])
    err = capsys.readouterr().err
    assert "clustering epoch 2/2 loss=" in err and "delta_label=" in err


def test_fitted_autoencoder_is_reused_and_not_modified(X, fitted_ae):
    before = _state(fitted_ae.module_)
    est = vade(autoencoder=fitted_ae, max_epochs=2).fit(X)
    assert _states_equal(_state(fitted_ae.module_), before)
    assert not np.allclose(est.transform(X), fitted_ae.transform(X))


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(likelihood="poisson"), "'likelihood'"),
        (dict(prior_lr=-1.0), "'prior_lr'"),
        (dict(prior_lr=0.0), "'prior_lr'"),
    ],
)
def test_bad_parameters(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        vade(**params).fit(blobs[0])


def test_divergence_raises_and_keeps_the_previous_model(X, fitted_ae):
    est = vade(autoencoder=fitted_ae, max_epochs=1).fit(X)
    labels = est.predict(X)
    with pytest.raises(FloatingPointError, match=r"epoch \d+.*(lr|learning rate)"):
        est.set_params(lr=1e30, max_epochs=3).fit(X)
    np.testing.assert_array_equal(est.predict(X), labels)


@pytest.mark.parametrize("n_samples, epochs", [(1797, 40), (9298, 40), (70_000, 22),
                                               (1_000_000, 2)])
def test_auto_max_epochs_caps_the_clustering_steps(n_samples, epochs):
    from skdeepcluster._vade import CLUSTERING_STEPS, VADE_MAX_EPOCHS

    est = VaDEClusterer()
    assert est.max_epochs == "auto" and est._max_epochs(n_samples) == epochs
    steps_per_epoch = -(-n_samples // (256 if n_samples >= 5000 else 64))
    assert epochs == VADE_MAX_EPOCHS or (
        (epochs - 1) * steps_per_epoch < CLUSTERING_STEPS <= epochs * steps_per_epoch)
    assert VaDEClusterer(max_epochs=7)._max_epochs(n_samples) == 7


def test_auto_max_epochs_is_what_the_fit_runs(X, monkeypatch):
    import skdeepcluster._vade as vade_module

    monkeypatch.setattr(vade_module, "CLUSTERING_STEPS", 15)  # 10 batches of 32 per epoch
    est = vade(max_epochs="auto", tol=0.0).fit(X)
    assert est.n_iter_ == len(est.history_) == 2
    assert [row["train_batch_count"] for row in est.history_] == [10, 10]


@pytest.mark.parametrize("unit_interval", [True, False])
def test_memory_shares_one_pretraining_with_dec(unit_interval, tmp_path, monkeypatch):
    # DEC pretrains with loss="auto", VaDE with the loss its likelihood needs (the
    # cross-entropy on [0, 1] data, the Huber error otherwise): the same pretraining,
    # which one ``memory`` must run once.
    from skdeepcluster import DECClusterer

    losses = []
    original = AutoEncoder._fit

    def recording(self, *args, **kwargs):
        losses.append(self.loss)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AutoEncoder, "_fit", recording)
    rng = np.random.default_rng(0)
    X = (rng.random((60, 6)) if unit_interval else rng.normal(size=(60, 6))).astype(np.float32)
    common = dict(n_clusters=2, hidden_dims=(8,), pretrain_epochs=2, max_epochs=1,
                  random_state=0, memory=str(tmp_path))
    DECClusterer(**common).fit(X)
    est = VaDEClusterer(**common).fit(X)
    assert losses == ["binary_cross_entropy" if unit_interval else "huber"]  # one run
    assert est.likelihood_ == ("bernoulli" if unit_interval else "gaussian")

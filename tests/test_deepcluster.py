"""DeepClusterClusterer: the method's pieces, the model, the conv backbone, errors.

The API every estimator shares (Pipeline, GridSearchCV, clone, pickle, bad input, shared
parameters) is tested in test_api.py, on the MLP backbone; the conv backbone's round trip
is tested here.
"""

import pickle
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import ConvergenceWarning

from skdeepcluster import DeepClusterClusterer
from skdeepcluster._deepcluster import _DeepClusterNet, uniform_label_indices
from skdeepcluster._kmeans import kmeans_torch, pca_whitening, whiten_normalize
from skdeepcluster._training import FeatureNoise, ImageAugmentation
from skdeepcluster.nn import ConvBackbone, PseudoLabelClassifier, feature_noise, random_affine
from skdeepcluster.nn._convnet import affine_sampling_grid

from _instances import assert_valid_labels

TINY = dict(n_pseudo_clusters=8, hidden_dims=(16,), latent_dim=6, batch_size=32,
            max_epochs=3, n_init=3, device="cpu", random_state=0)


def dc(**kw):
    return DeepClusterClusterer(**{"n_clusters": 3, **TINY, **kw})


@pytest.fixture(scope="module")
def X():
    return (load_digits().data[:300] / 16.0).astype(np.float32)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, centers=3, n_features=6, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module", params=["mlp", "conv"])
def fitted(request, X):
    if request.param == "mlp":
        return dc(image_shape=None).fit(X)
    return dc(image_shape=(1, 8, 8), hidden_dims=(4, 8)).fit(X)


@pytest.mark.parametrize("scale, expected", [(1.0, (1, 8, 8)), (16.0, None)])
def test_auto_image_shape_picks_the_backbone(X, scale, expected):
    from skdeepcluster.nn import ConvBackbone, MLPBackbone

    # digits / 16 are 8 x 8 images in [0, 1]; digits * 16 leave [0, 1]: not images.
    est = dc(hidden_dims=(4, 8), max_epochs=1).fit(X * scale)
    assert est.image_shape == "auto" and est.image_shape_ == expected
    backbone = ConvBackbone if expected else MLPBackbone
    assert isinstance(est.net_.module_.features, backbone)
    augmentation = ImageAugmentation if expected else FeatureNoise
    assert type(est.net_.augment) is augmentation


def _processed(est, X):
    Z = est.transform(X).astype(np.float64)
    P = (Z - est.pca_mean_) @ est.pca_components_.T
    return P / np.linalg.norm(P, axis=1, keepdims=True)


# -- the method's pieces -------------------------------------------------------------------
def test_pca_whitening_whitens_and_normalises():
    rng = np.random.RandomState(0)
    Z = torch.from_numpy(rng.randn(500, 5) @ rng.randn(5, 5) + 3.0)
    mean, components = pca_whitening(Z, 4)
    assert components.shape == (4, 5) and components.dtype == Z.dtype
    W = (Z - mean) @ components.T
    np.testing.assert_allclose(torch.cov(W.T).numpy(), np.eye(4), atol=1e-3)
    P = whiten_normalize(Z, mean, components)
    np.testing.assert_allclose(P.norm(dim=1).numpy(), 1.0, rtol=1e-10)


def test_pca_whitening_of_degenerate_features_stays_finite():
    Z = torch.zeros(20, 4, dtype=torch.float32)
    Z[:, 0] = torch.arange(20.0)  # one direction of variance, three dead units
    mean, components = pca_whitening(Z, 4)
    P = whiten_normalize(Z, mean, components)
    assert torch.isfinite(P).all()
    P0 = whiten_normalize(torch.ones(5, 4), torch.ones(4), components)  # zero rows stay 0
    assert torch.equal(P0, torch.zeros(5, 4))


def test_pca_whitening_of_features_without_any_variance_stays_finite():
    tiny = 1e-30 * torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
    for Z in (torch.ones(20, 4), tiny):  # no variance; variance below float32's range
        mean, components = pca_whitening(Z, 4)
        assert torch.isfinite(components).all()
        assert torch.isfinite(whiten_normalize(Z, mean, components)).all()


@pytest.mark.parametrize("Xc", [np.ones((50, 5), np.float32), np.zeros((60, 64), np.float32)],
                         ids=["ones", "zeros-as-images"])
def test_constant_data_is_clustered_not_reported_as_nan(Xc):
    est = DeepClusterClusterer(n_clusters=3, n_pseudo_clusters=6, hidden_dims=(16,),
                               latent_dim=8, max_epochs=2, random_state=0)
    with pytest.warns(ConvergenceWarning):  # k-means: fewer distinct points than clusters
        labels = est.fit_predict(Xc)
    assert labels.shape == (len(Xc),)
    np.testing.assert_array_equal(est.predict(Xc), labels)


def test_features_that_overflow_raise_a_divergence_error(X):
    est = DeepClusterClusterer(n_clusters=3, n_pseudo_clusters=6, hidden_dims=(16,),
                               latent_dim=8, max_epochs=1, random_state=0)
    with pytest.raises(FloatingPointError, match="features became non-finite"):
        est.fit(X.astype(np.float64) * 1e300)


def test_uniform_label_indices_balance_the_pseudo_labels():
    labels = torch.tensor([0] * 900 + [2] * 90 + [5] * 10)  # labels 1, 3, 4 are empty
    idx = uniform_label_indices(labels, 1000, torch.Generator().manual_seed(0))
    assert idx.shape == (1000,) and idx.min() >= 0 and idx.max() < 1000
    counts = torch.bincount(labels[idx], minlength=6)
    assert counts[[1, 3, 4]].sum() == 0
    assert counts[[0, 2, 5]].min() >= 320  # 1000 / 3, up to the final cut
    # The big cluster is subsampled without replacement; the small one is repeated.
    big = idx[labels[idx] == 0]
    assert len(torch.unique(big)) == len(big)
    assert len(torch.unique(idx[labels[idx] == 5])) == 10
    again = uniform_label_indices(labels, 1000, torch.Generator().manual_seed(0))
    assert torch.equal(idx, again)


def test_kmeans_torch_finds_blobs_and_leaves_no_cluster_empty():
    Z, y = make_blobs(n_samples=200, centers=4, n_features=3, random_state=1)
    Z = torch.from_numpy(Z)
    centers, labels, inertia = kmeans_torch(Z, 4, generator=torch.Generator().manual_seed(0),
                                            n_init=3)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, labels.numpy()) > 0.9
    assert centers.shape == (4, 3) and inertia > 0
    # More clusters than distinct rows (50): reseeding still fills every cluster, as
    # reseed_empty_clusters does (duplicates of a row may be split).
    Zd = torch.cat([Z[:50], Z[:50]])
    _, labels, _ = kmeans_torch(Zd, 60, generator=torch.Generator().manual_seed(0))
    assert len(torch.unique(labels)) == 60
    _, labels, _ = kmeans_torch(Z, 199, generator=torch.Generator().manual_seed(0))
    assert len(torch.unique(labels)) == 199


def test_random_affine():
    x = torch.rand(6, 2 * 5 * 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    identity = random_affine(x, (2, 5, 7), torch.Generator().manual_seed(0), max_shift=0.0,
                             max_rotation=0.0, scale=(1.0, 1.0))
    np.testing.assert_allclose(identity.numpy(), x.numpy(), atol=1e-12)
    a = random_affine(x, (2, 5, 7), torch.Generator().manual_seed(1))
    b = random_affine(x, (2, 5, 7), torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == x.dtype and torch.equal(a, b)
    assert not torch.allclose(a, x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_feature_noise_follows_each_features_spread(dtype):
    g = torch.Generator().manual_seed(0)
    # Columns with standard deviations 1, 100 and 0 (constant).
    x = torch.stack([torch.randn(4000, generator=g), 100 * torch.randn(4000, generator=g),
                     torch.full((4000,), 7.0)], 1).to(dtype)
    a = feature_noise(x, torch.Generator().manual_seed(1), scale=0.5)
    b = feature_noise(x, torch.Generator().manual_seed(1), scale=0.5)
    assert a.dtype == dtype and a.shape == x.shape and torch.equal(a, b)
    noise_std = (a - x).std(dim=0)
    np.testing.assert_allclose(noise_std[:2].numpy(), [0.5, 50.0], rtol=0.05)
    assert torch.equal(a[:, 2], x[:, 2])
    assert torch.equal(feature_noise(x, torch.Generator().manual_seed(1), scale=0.0), x)
    with pytest.raises(ValueError, match="2-d batch"):
        feature_noise(x[:, 0], torch.Generator())


def test_noise_scale_sets_the_mlp_backbones_noise(blobs, X):
    rows = blobs[0]  # not images: the MLP backbone
    for scale in (0.0, 1.0, 2.5):
        est = dc(max_epochs=1, noise_scale=scale).fit(rows)
        assert isinstance(est.net_.augment, FeatureNoise)
        assert est.net_.augment.scale == scale
    # A different scale trains a different network from the same seed.
    a = dc(max_epochs=2, noise_scale=1.0).fit(rows).transform(rows)
    b = dc(max_epochs=2, noise_scale=2.0).fit(rows).transform(rows)
    assert not np.allclose(a, b)
    # Images (digits / 16) are shifted, rotated and zoomed whatever noise_scale says.
    est = dc(max_epochs=1, noise_scale=3.0).fit(X)
    assert isinstance(est.net_.augment, ImageAugmentation)


def test_noise_scale_auto_follows_the_number_of_features(blobs):
    from skdeepcluster._deepcluster import MANY_FEATURES, NOISE_SCALE

    assert NOISE_SCALE["many"] > NOISE_SCALE["few"]
    rows = blobs[0]
    assert rows.shape[1] < MANY_FEATURES
    few = dc(max_epochs=1).fit(rows)
    assert few.noise_scale == "auto" and few.net_.augment.scale == NOISE_SCALE["few"]
    # The same rows with copies of their columns: as many features as the rule needs.
    wide = np.tile(rows, (1, -(-MANY_FEATURES // rows.shape[1])))
    assert wide.shape[1] >= MANY_FEATURES
    many = dc(max_epochs=1, image_shape=None).fit(wide)
    assert many.net_.augment.scale == NOISE_SCALE["many"]
    narrower = dc(max_epochs=1, image_shape=None).fit(wide[:, :MANY_FEATURES - 1])
    assert narrower.net_.augment.scale == NOISE_SCALE["few"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [(28, 28), (5, 7), (1, 1)])
def test_affine_sampling_grid_is_affine_grid(size, dtype):
    theta = torch.randn(4, 2, 3, dtype=dtype, generator=torch.Generator().manual_seed(0))
    expected = F.affine_grid(theta, [4, 3, *size], align_corners=False)
    grid = affine_sampling_grid(theta, size)
    assert grid.shape == expected.shape and grid.dtype == dtype
    torch.testing.assert_close(grid, expected)


def test_conv_backbone_handles_small_and_odd_images():
    for shape in [(1, 8, 8), (3, 5, 7), (1, 1, 1), (2, 16, 16)]:
        net = ConvBackbone(shape, channels=(4, 8, 8), latent_dim=5).eval()
        assert net(torch.rand(3, int(np.prod(shape)))).shape == (3, 5)


def test_head_is_reinitialised_every_epoch(X, monkeypatch):
    calls = []
    original = _DeepClusterNet.reset_head

    def counting(self):
        before = self.module_.head.weight.detach().clone()
        original(self)
        calls.append(before)
        # The head's momentum is forgotten (zero, as SGD's first step would start it).
        for p in self.module_.head.parameters():
            buffer = self.optimizer_.state.get(p, {}).get("momentum_buffer")
            assert buffer is None or not buffer.any()
        assert self.module_.head.bias.abs().max() == 0
        assert self.module_.head.weight.std() < 0.02

    monkeypatch.setattr(_DeepClusterNet, "reset_head", counting)
    est = dc(max_epochs=3).fit(X)
    assert len(calls) == 3
    assert isinstance(est.module_, PseudoLabelClassifier)
    assert est.module_.head.out_features == 8
    # The head was trained between two resets.
    assert not torch.equal(calls[1], calls[2])


# -- the fitted model ---------------------------------------------------------------------
def test_fitted_attributes_are_consistent(X, fitted):
    k, n = fitted.n_clusters, len(X)
    assert_valid_labels(fitted.labels_, k, n)
    np.testing.assert_array_equal(fitted.labels_, fitted.predict(X))
    np.testing.assert_array_equal(fitted.fit_predict(X), fitted.labels_)  # same seed
    assert fitted.n_features_in_ == 64
    assert fitted.device_ == torch.device("cpu")
    Z = fitted.transform(X)
    assert Z.shape == (n, 6) and Z.dtype == np.float32
    assert fitted.pca_mean_.shape == (6,)
    # pca_dim=16, capped at latent_dim (6) and, for the final clusters, at 2 * (k - 1).
    assert fitted.pca_components_.shape == (4, 6)
    assert fitted.cluster_centers_.shape == (k, 4)
    # Means of unit vectors.
    assert np.all(np.linalg.norm(fitted.cluster_centers_, axis=1) <= 1 + 1e-6)
    # predict: whitening, normalisation and the nearest final centre.
    P = _processed(fitted, X)
    d2 = ((P[:, None] - fitted.cluster_centers_[None]) ** 2).sum(-1)
    assert np.mean(d2.argmin(1) == fitted.predict(X)) > 0.99
    np.testing.assert_array_equal(fitted.get_feature_names_out(),
                                  [f"deepclusterclusterer{i}" for i in range(6)])


def test_predict_proba_and_score(X, fitted):
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float32
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(1), fitted.predict(X))
    P = _processed(fitted, X)
    d2 = ((P[:, None] - fitted.cluster_centers_[None]) ** 2).sum(-1)
    # The temperature is the mean squared distance of the training rows to their centre.
    assert fitted.temperature_ == pytest.approx(d2.min(1).mean(), rel=1e-4)
    expected = np.exp(-(d2 - d2.min(1, keepdims=True)) / fitted.temperature_)
    np.testing.assert_allclose(proba, expected / expected.sum(1, keepdims=True), atol=1e-4)
    assert fitted.score(X) == pytest.approx(-d2.min(1).mean(), rel=1e-4)


def test_history_tracks_nmi_between_consecutive_pseudo_labels(fitted):
    assert fitted.n_iter_ == 3 == len(fitted.history_)
    assert np.isnan(fitted.history_[0]["nmi_previous"])
    for row in fitted.history_:
        assert np.isfinite(row["train_loss"]) and row["train_loss"] > 0
        assert 0 <= row["kmeans_loss"] <= 4  # squared distances of unit vectors
    for row in fitted.history_[1:]:
        assert 0.0 <= row["nmi_previous"] <= 1.0


def test_tol_stops_when_pseudo_labels_are_stable(X):
    est = dc(tol=1.0, max_epochs=10).fit(X)  # any NMI > 0 is "stable"
    assert est.n_iter_ == 2
    assert len(dc(tol=0.0, max_epochs=4).fit(X).history_) == 4


def test_max_epochs_zero_clusters_random_features(X):
    est = dc(max_epochs=0).fit(X)
    assert est.n_iter_ == 0 and est.history_ == []
    assert_valid_labels(est.labels_, 3, len(X))
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_pca_dim(X):
    est = dc(pca_dim=2).fit(X)
    assert est.pca_components_.shape == (2, 6) and est.cluster_centers_.shape == (3, 2)
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    # Capped at latent_dim and at n_samples - 1; None: min(256, latent_dim). (Enough
    # clusters that the final clustering's cap, 2 * (n_clusters - 1), is not the one.)
    assert dc(pca_dim=100, n_clusters=4).fit(X).pca_components_.shape == (6, 6)
    assert dc(pca_dim=None, latent_dim=20, n_clusters=11).fit(X).pca_components_.shape == (
        20, 20)
    assert dc(n_pseudo_clusters=3).fit(X[:4]).pca_components_.shape == (3, 6)


@pytest.mark.parametrize("n_clusters, expected", [(1, 1), (2, 2), (3, 4), (4, 6), (10, 6)])
def test_final_clustering_keeps_two_directions_per_cluster(X, n_clusters, expected):
    # The pseudo-labels use all pca_dim (here latent_dim = 6) whitened directions; the
    # final clusters at most 2 * (n_clusters - 1) of them, where the class structure is.
    est = dc(n_clusters=n_clusters, max_epochs=1).fit(X)
    assert est.pca_components_.shape == (expected, 6)
    assert est.cluster_centers_.shape == (n_clusters, expected)
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_n_clusters_one(blobs):
    X, _ = blobs
    est = dc(n_clusters=1).fit(X)
    assert np.all(est.labels_ == 0)
    np.testing.assert_allclose(est.predict_proba(X), 1.0)


def test_mixed_precision(X):
    est = dc(mixed_precision=True).fit(X)
    assert_valid_labels(est.labels_, 3, len(X))
    assert est.transform(X).dtype == np.float32
    np.testing.assert_array_equal(est.predict(X), est.labels_)


# -- empty clusters ------------------------------------------------------------------------
@pytest.mark.parametrize("n_pseudo_clusters", [35, 39, 40, 1000])
def test_many_pseudo_clusters_never_crash(X, n_pseudo_clusters):
    # As many pseudo-clusters as samples (or more: capped): k-means leaves clusters
    # empty, which are reseeded.
    est = dc(n_pseudo_clusters=n_pseudo_clusters, batch_size=8).fit(X[:40])
    assert_valid_labels(est.labels_, 3, 40)
    assert est.module_.head.out_features == min(n_pseudo_clusters, 40)


@pytest.mark.parametrize("n, n_clusters, expected", [
    (300, 3, 12),     # one pseudo-cluster per 25 samples below 1,250
    (1300, 3, 50),    # 52 -> at most 50
    (40, 3, 3),       # 1 -> at least n_clusters
])
def test_auto_pseudo_clusters_follow_the_number_of_samples(n, n_clusters, expected):
    X, _ = make_blobs(n_samples=n, centers=n_clusters, n_features=4, random_state=0)
    est = DeepClusterClusterer(n_clusters=n_clusters, hidden_dims=(8,), latent_dim=4,
                               max_epochs=1, n_init=1, random_state=0)
    assert est.n_pseudo_clusters == "auto"
    est.fit(X.astype(np.float32))
    assert est.module_.head.out_features == expected
    assert est.set_params(n_pseudo_clusters=7).fit(X).module_.head.out_features == 7


def test_duplicate_rows_fewer_distinct_points_than_pseudo_clusters():
    rng = np.random.RandomState(0)
    X = np.repeat(rng.rand(5, 4), 8, axis=0).astype(np.float32)  # 40 rows, 5 distinct
    est = dc(n_pseudo_clusters=20, batch_size=8).fit(X)
    assert_valid_labels(est.labels_, 3, 40)
    # Identical rows share a cluster.
    assert len(np.unique(est.labels_.reshape(5, 8), axis=1)) == 5


# -- the conv backbone ---------------------------------------------------------------------
@pytest.mark.parametrize("augment", [True, False])
def test_conv_backbone_on_digit_images(X, augment):
    est = dc(image_shape=[1, 8, 8], hidden_dims=(4, 8), augment=augment).fit(X)
    assert isinstance(est.module_.features, ConvBackbone)
    assert_valid_labels(est.labels_, 3, len(X))
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    assert est.transform(X).shape == (len(X), 6)
    assert (est.net_.augment is not None) == augment


@pytest.mark.parametrize("backbone", [dict(image_shape=(1, 8, 8), hidden_dims=(4,)),
                                      dict(image_shape=None)])
def test_augmentation_changes_training_not_inference(X, backbone):
    a = dc(**backbone, augment=True).fit(X)
    b = dc(**backbone, augment=False).fit(X)
    assert b.net_.augment is None
    assert not np.allclose(a.transform(X), b.transform(X))
    # Inference is deterministic (no augmentation in eval mode).
    np.testing.assert_array_equal(a.transform(X), a.transform(X))


def test_default_conv_channels(X):
    est = dc(image_shape=(1, 8, 8), hidden_dims=None, max_epochs=1).fit(X[:64])
    convs = [m for m in est.module_.features.conv if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128]


@pytest.mark.parametrize("shape", [(1, 8, 7), (2, 8, 8), (64,), (1, 64), (4, 4, 4, 1)])
def test_image_shape_inconsistent_with_n_features(X, shape):
    with pytest.raises(ValueError, match="image_shape"):
        dc(image_shape=shape).fit(X)


def test_image_shape_error_message(X):
    msg = r"image_shape=\(1, 16, 16\) has 256 values per image but X has 64 features"
    with pytest.raises(ValueError, match=msg):
        dc(image_shape=(1, 16, 16)).fit(X)
    with pytest.raises(ValueError, match="positive integers"):
        dc(image_shape=(0, 8, 8)).fit(X)
    with pytest.raises(ValueError, match="positive integers"):
        dc(image_shape=(1.0, 8, 8)).fit(X)


@pytest.mark.parametrize("fitted", ["conv"], indirect=True)
def test_conv_model_clones_pickles_and_checks_its_input(X, fitted):
    c = clone(fitted)
    assert c.get_params() == fitted.get_params()
    assert not hasattr(c, "labels_") and not hasattr(c, "net_")
    restored = pickle.loads(pickle.dumps(fitted))
    for method in ("predict", "transform", "predict_proba"):
        np.testing.assert_array_equal(getattr(restored, method)(X), getattr(fitted, method)(X))
    assert restored.device_ == torch.device("cpu")
    with pytest.raises(ValueError, match="6 features.*expecting 64 features"):
        fitted.predict(X[:, :6])


def test_other_image_layouts(X):
    # 64 features as 4 channels of 4x4 or one 4x16 image.
    for shape in [(4, 4, 4), (1, 4, 16)]:
        est = dc(image_shape=shape, hidden_dims=(4,), max_epochs=2).fit(X)
        assert_valid_labels(est.labels_, 3, len(X))


# -- seeds, dtypes, display (the shared API is in test_api.py) ----------------------------
@pytest.mark.parametrize("backbone", [dict(image_shape=(1, 8, 8), hidden_dims=(4,)),
                                      dict(image_shape=None)])
def test_same_seed_is_reproducible_and_other_seeds_differ(X, backbone):
    kw = dict(**backbone, max_epochs=2)
    a, b = dc(random_state=3, **kw).fit(X), dc(random_state=3, **kw).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert [r["train_loss"] for r in a.history_] == [r["train_loss"] for r in b.history_]
    other = dc(random_state=4, **kw).fit(X)
    assert not np.allclose(a.transform(X), other.transform(X))
    assert_valid_labels(dc(random_state=None, max_epochs=1).fit(X).labels_, 3, len(X))


@pytest.mark.parametrize("image_shape", [(1, 8, 8), None])
@pytest.mark.parametrize("random_state", [None, 7])
def test_fit_does_not_touch_global_rng_state(X, random_state, image_shape):
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    np_state, py_state = np.random.get_state(), random.getstate()
    torch_state = torch.get_rng_state()
    dc(random_state=random_state, image_shape=image_shape, hidden_dims=(4,), max_epochs=2).fit(X)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert random.getstate() == py_state
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_verbose_prints_the_nmi(X, capsys):
    dc(verbose=0).fit(X)
    assert capsys.readouterr() == ("", "")
    dc(verbose=2).fit(X)
    out = capsys.readouterr().out
    assert "nmi_previous" in out and "kmeans_loss" in out
    dc(verbose=1).fit(X)
    out, err = capsys.readouterr()
    assert out == "" and "nmi_previous=" in err


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(blobs, dtype):
    X = blobs[0].astype(dtype)
    X_before = X.copy()
    est = dc(max_epochs=2).fit(X)
    np.testing.assert_array_equal(X, X_before)
    assert est.transform(X).dtype == dtype
    assert est.predict_proba(X).dtype == dtype
    assert est.cluster_centers_.dtype == dtype
    # The network trains in float32 whatever X's dtype; outputs follow X.
    assert next(est.module_.parameters()).dtype == torch.float32


def test_read_only_memmap(X, tmp_path):
    path = tmp_path / "X.dat"
    X.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    est = dc(image_shape=(1, 8, 8), hidden_dims=(4,), max_epochs=2).fit(mm)
    np.testing.assert_array_equal(est.predict(mm), est.labels_)
    np.testing.assert_array_equal(est.transform(mm), est.transform(X))
    np.testing.assert_array_equal(np.asarray(mm), X)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_pseudo_clusters=0), "'n_pseudo_clusters'"),
        (dict(pca_dim=0), "'pca_dim'"),
        (dict(weight_decay=-1.0), "'weight_decay'"),
        (dict(augment="yes"), "'augment'"),
        (dict(noise_scale=-1.0), "'noise_scale'"),
        (dict(image_shape="1x8x8"), "'image_shape'"),
    ],
)
def test_bad_parameters(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        dc(**params).fit(blobs[0])


def test_divergence_raises_and_keeps_the_previous_model(X):
    est = dc(max_epochs=1).fit(X)
    labels = est.predict(X)
    with pytest.raises(FloatingPointError, match=r"epoch \d+.*(lr|learning rate)"):
        est.set_params(lr=1e30).fit(X)
    np.testing.assert_array_equal(est.predict(X), labels)


def test_batch_size_auto_follows_the_number_of_samples_and_the_backbone(X):
    assert DeepClusterClusterer().batch_size == "auto"
    # Conv backbone: the autoencoders' rule (64 below 5,000 samples, else 256).
    conv = dict(batch_size="auto", max_epochs=1, image_shape=(1, 8, 8), hidden_dims=(4, 8))
    assert dc(**conv).fit(X).net_.batch_size == 64
    assert dc(**conv).fit(np.tile(X, (17, 1))).net_.batch_size == 256
    # MLP backbone: 256 whatever the size; an explicit value always wins.
    assert dc(batch_size="auto", max_epochs=1, image_shape=None).fit(X).net_.batch_size == 256
    assert dc(batch_size=16, max_epochs=1, image_shape=None).fit(X).net_.batch_size == 16

"""AutoEncoder: shapes, dtypes, score, training progress, mixed precision, callbacks.

The API every estimator shares (clone, pickle, bad input, shared parameters) is tested
in test_api.py.
"""

import copy
import os

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skdeepcluster import AutoEncoder

TINY = dict(hidden_dims=(16,), latent_dim=3, batch_size=32, device="cpu", random_state=0)


class EpochCounter(Callback):
    """Counts epochs on itself: shows whether (and which copy of) it was used."""

    def __init__(self):
        self.n_epochs = 0

    def on_epoch_end(self, net, **kwargs):
        self.n_epochs += 1
        self.seen_by_ = type(net).__name__


@pytest.fixture(scope="module")
def X():
    from sklearn.datasets import load_digits

    return (load_digits().data[:300] / 16.0).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(X):
    return AutoEncoder(max_epochs=5, loss="squared_error", **TINY).fit(X)


def test_transform_and_inverse_transform_shapes_and_dtypes(X, fitted):
    Z = fitted.transform(X)
    assert Z.shape == (len(X), 3) and Z.dtype == np.float32
    X_rec = fitted.inverse_transform(Z)
    assert X_rec.shape == X.shape and X_rec.dtype == np.float32
    assert np.isfinite(X_rec).all()
    # float64 in, float64 out (computed by the float32 module).
    Z64 = fitted.transform(X.astype(np.float64))
    assert Z64.dtype == np.float64
    np.testing.assert_allclose(Z64, Z, rtol=1e-5, atol=1e-6)
    assert fitted.inverse_transform(Z64).dtype == np.float64
    assert fitted.n_features_in_ == X.shape[1] and fitted.n_iter_ == 5
    np.testing.assert_array_equal(
        fitted.get_feature_names_out(), [f"autoencoder{i}" for i in range(3)]
    )


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint8])
def test_any_dtype_trains_in_float32_like_float32_input(X, dtype):
    # Integer input: pixel counts 0..16; the same values in float32 are the reference.
    X16 = X[:100] * 16 if np.issubdtype(dtype, np.integer) else X[:100]
    ref = AutoEncoder(max_epochs=2, **TINY).fit(X16.astype(np.float32))
    ae = AutoEncoder(max_epochs=2, **TINY).fit(X16.astype(dtype))
    assert next(ae.module_.parameters()).dtype == torch.float32
    for p, q in zip(ae.module_.parameters(), ref.module_.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    # Integers are validated to float64, as scikit-learn's estimators do.
    assert ae.transform(X16.astype(dtype)).dtype == np.float64


def test_float64_inference_runs_in_float64_and_keeps_the_weights(X, fitted):
    X64 = X.astype(np.float64)
    before = [p.detach().clone() for p in fitted.module_.parameters()]
    Z = fitted.transform(X64)
    W = [p.detach().double() for p in fitted.module_.encoder.parameters()]
    h = np.maximum(X64 @ W[0].numpy().T + W[1].numpy(), 0)
    expected = h @ W[2].numpy().T + W[3].numpy()
    np.testing.assert_allclose(Z, expected, rtol=1e-12, atol=1e-12)
    # Row by row and whole array agree to float64 rounding (scikit-learn's checks
    # demand 1e-7; float32 arithmetic misses it).
    np.testing.assert_allclose(np.vstack([fitted.transform(X64[i:i + 1])
                                          for i in range(5)]), Z[:5], rtol=1e-12, atol=1e-14)
    for p, q in zip(fitted.module_.parameters(), before):
        assert p.dtype == torch.float32 and torch.equal(p, q)


def test_inverse_transform_checks_the_latent_dimension(fitted):
    with pytest.raises(ValueError, match="latent_dim=3"):
        fitted.inverse_transform(np.zeros((2, 5), dtype=np.float32))


def test_auto_loss_is_cross_entropy_for_unit_interval_data_only(X):
    ae = AutoEncoder(max_epochs=1, **TINY)
    assert ae.loss == "auto"
    assert ae.fit(X).module_.loss == "binary_cross_entropy"
    assert ae.fit(X * 2 - 0.5).module_.loss == "huber"
    assert ae.fit(X * 255).module_.loss == "huber"


def test_huber_loss_trains_and_scores_with_its_own_error(X):
    Xs = (X - X.mean(0)) / (X.std(0) + 0.1)  # some pixels are constant
    Xs[0, 0] = 40.0  # one value far out: linear, not squared, in the loss
    ae = AutoEncoder(max_epochs=3, loss="huber", **TINY).fit(Xs)
    r = np.abs(ae.inverse_transform(ae.transform(Xs)) - Xs)
    expected = np.mean(np.where(r <= 1, r ** 2, 2 * r - 1))
    assert ae.score(Xs) == pytest.approx(-expected, rel=1e-4)
    assert -ae.score(Xs) < np.mean(r ** 2)


def test_score_is_negative_mse_of_reconstructions(X, fitted):
    X_rec = fitted.inverse_transform(fitted.transform(X))
    expected = -np.mean((X.astype(np.float64) - X_rec.astype(np.float64)) ** 2)
    assert fitted.score(X) == pytest.approx(expected, rel=1e-5)
    assert fitted.score(X) < 0


def test_binary_cross_entropy_loss(X):
    ae = AutoEncoder(max_epochs=5, loss="binary_cross_entropy", **TINY).fit(X)
    assert ae.module_.loss == "binary_cross_entropy"
    Z = ae.transform(X)
    X_rec = ae.inverse_transform(Z)
    # The decoder outputs logits; the reconstruction is their sigmoid.
    with torch.no_grad():
        logits = ae.module_.decoder(torch.from_numpy(Z)).numpy().astype(np.float64)
    np.testing.assert_allclose(X_rec, 1.0 / (1.0 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    assert X_rec.min() >= 0 and X_rec.max() <= 1
    # score is minus the mean binary cross-entropy of X under those logits.
    x = X.astype(np.float64)
    bce = np.mean(np.logaddexp(0.0, logits) - x * logits)
    assert ae.score(X) == pytest.approx(-bce, rel=1e-5)
    # Training lowers it from the untrained network's.
    untrained = AutoEncoder(max_epochs=0, loss="binary_cross_entropy", **TINY).fit(X)
    assert ae.score(X) > untrained.score(X)


def test_binary_cross_entropy_needs_data_in_the_unit_interval(X):
    with pytest.raises(ValueError, match=r"loss='binary_cross_entropy' needs every value of "
                                         r"X in \[0, 1\].*loss='squared_error'"):
        AutoEncoder(max_epochs=1, loss="binary_cross_entropy", **TINY).fit(X * 2 - 0.5)


def test_training_reduces_the_reconstruction_error(X):
    ae = AutoEncoder(max_epochs=10, optimizer="adam", lr=1e-2, **TINY).fit(X)
    losses = [row["train_loss"] for row in ae.history_]
    assert len(losses) == ae.n_iter_ == 10
    assert all("batches" not in row for row in ae.history_)
    assert losses[-1] < losses[0]
    untrained = AutoEncoder(max_epochs=0, **TINY).fit(X)
    assert ae.score(X) > untrained.score(X)


def test_max_epochs_zero_gives_a_usable_untrained_model(X):
    ae = AutoEncoder(max_epochs=0, **TINY).fit(X)
    assert ae.n_iter_ == 0 and ae.history_ == []
    Z = ae.transform(X)
    assert Z.shape == (len(X), 3) and np.isfinite(Z).all()
    assert np.isfinite(ae.score(X))


def test_same_seed_same_model_and_global_rng_untouched(X):
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()
    a = AutoEncoder(max_epochs=2, **TINY).fit(X)
    b = AutoEncoder(max_epochs=2, **TINY).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert torch.equal(torch.get_rng_state(), torch_state)
    c = AutoEncoder(max_epochs=2, **{**TINY, "random_state": 1}).fit(X)
    assert not np.allclose(a.transform(X), c.transform(X))


def test_fits_in_concurrent_threads_give_the_labels_they_give_alone(X):
    # torch's random number generator is global to the process: without the lock that
    # seeded() holds, threads reseed and draw from it in turn and most fits differ.
    from concurrent.futures import ThreadPoolExecutor

    seeds = [0, 1, 2, 3] * 3
    alone = {s: AutoEncoder(max_epochs=2, **{**TINY, "random_state": s}).fit(X).transform(X)
             for s in range(4)}
    torch_state = torch.get_rng_state()

    def fit(seed):
        return AutoEncoder(max_epochs=2, **{**TINY, "random_state": seed}).fit(X).transform(X)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(fit, seeds))
    for seed, Z in zip(seeds, results):
        np.testing.assert_array_equal(Z, alone[seed])
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_mixed_precision_trains_and_returns_finite_float32(X):
    ae = AutoEncoder(max_epochs=3, mixed_precision=True, optimizer="adam", lr=1e-2,
                     **TINY).fit(X)
    assert next(ae.module_.parameters()).dtype == torch.float32
    Z = ae.transform(X)
    assert Z.dtype == np.float32 and np.isfinite(Z).all()
    X_rec = ae.inverse_transform(Z)
    assert X_rec.dtype == np.float32 and np.isfinite(X_rec).all()
    losses = [row["train_loss"] for row in ae.history_]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.parametrize("as_tuple", [False, True])
def test_callbacks_are_used_but_not_mutated(X, as_tuple):
    cb = EpochCounter()
    before = copy.deepcopy(vars(cb))
    callbacks = [("counter", cb)] if as_tuple else [cb]
    ae = AutoEncoder(max_epochs=3, callbacks=callbacks, **TINY).fit(X)
    # The object passed in is untouched...
    assert vars(cb) == before and not hasattr(cb, "seen_by_")
    assert ae.callbacks[0] is callbacks[0]
    # ... while its copy inside the net ran every epoch.
    used = [c for _, c in ae.net_.callbacks_ if isinstance(c, EpochCounter)]
    assert len(used) == 1 and used[0] is not cb
    assert used[0].n_epochs == 3
    # A second fit starts from a fresh copy, not from the first fit's state.
    ae.fit(X)
    used = [c for _, c in ae.net_.callbacks_ if isinstance(c, EpochCounter)]
    assert used[0].n_epochs == 3


def test_verbose(X, capsys):
    AutoEncoder(max_epochs=2, verbose=0, **TINY).fit(X)
    assert capsys.readouterr() == ("", "")
    AutoEncoder(max_epochs=2, verbose=1, **TINY).fit(X)
    out, err = capsys.readouterr()
    assert out == "" and "[AutoEncoder] pretraining epoch 2/2 loss=" in err
    AutoEncoder(max_epochs=2, verbose=2, **TINY).fit(X)
    out, err = capsys.readouterr()
    assert "train_loss" in out and len(out.strip().splitlines()) >= 2 + 2  # header + 2 epochs
    assert "[AutoEncoder]" not in err


def test_last_step_divergence_is_not_silent(X):
    """A step that makes the weights non-finite must not leave a NaN model behind.

    One batch, one epoch, an absurd learning rate: the only loss computed is finite (it
    is measured before the step), but the step sends the weights to inf/NaN. ``fit``
    should raise (DESIGN §8: no silent garbage); currently it returns a model whose
    ``transform`` is NaN.
    """
    ae = AutoEncoder(**{**TINY, "batch_size": 512}, max_epochs=1, optimizer="sgd", lr=1e38)
    try:
        ae.fit(X)
    except (FloatingPointError, ValueError) as exc:
        assert "lr" in str(exc) or "learning rate" in str(exc)
        return
    assert np.isfinite(ae.transform(X)).all(), "fit succeeded but the model outputs NaN/inf"


@pytest.mark.parametrize("n_samples, hidden, batch, optimizer", [
    (300, (256, 256, 512), 64, torch.optim.Adam),
    (5000, (500, 500, 2000), 256, torch.optim.SGD),
])
def test_auto_settings_follow_the_number_of_samples(n_samples, hidden, batch, optimizer):
    X = np.random.RandomState(0).rand(n_samples, 4).astype(np.float32)
    ae = AutoEncoder(max_epochs=0, device="cpu", random_state=0).fit(X)
    linears = [m for m in ae.module_.encoder if isinstance(m, torch.nn.Linear)]
    assert tuple(m.out_features for m in linears[:-1]) == hidden
    assert ae.net_.batch_size == batch and ae.net_.optimizer is optimizer
    # Data outside [0, 1] always gets Adam; explicit values are kept.
    ae = AutoEncoder(max_epochs=0, hidden_dims=(7,), batch_size=9, random_state=0).fit(X * 3)
    assert ae.module_.encoder[0].out_features == 7 and ae.net_.batch_size == 9
    assert ae.net_.optimizer is torch.optim.Adam


@pytest.mark.parametrize("n_samples, batch_size, epochs", [
    (1797, 64, 100), (9298, 256, 100), (35_840, 256, 100), (40_000, 256, 90),
    (70_000, 256, 52), (1_000_000, 256, 4),
])
def test_auto_pretraining_length_caps_the_gradient_steps(n_samples, batch_size, epochs):
    from skdeepcluster._base import PRETRAIN_STEPS, resolve_pretrain_epochs

    assert resolve_pretrain_epochs("auto", n_samples, batch_size) == epochs
    steps = epochs * -(-n_samples // batch_size)
    assert epochs == 100 or steps - -(-n_samples // batch_size) < PRETRAIN_STEPS <= steps
    assert resolve_pretrain_epochs(7, n_samples, batch_size) == 7


def test_auto_max_epochs_is_what_the_fit_runs(monkeypatch):
    import skdeepcluster._base as base

    X = np.random.RandomState(0).rand(100, 4).astype(np.float32)
    monkeypatch.setattr(base, "PRETRAIN_STEPS", 15)  # 7 batches of 16 per epoch
    ae = AutoEncoder(**{**TINY, "batch_size": 16}).fit(X)
    assert ae.max_epochs == "auto" and ae.n_iter_ == len(ae.history_) == 3


@pytest.mark.parametrize("native", [True, False])
def test_auto_mixed_precision_follows_native_bf16(X, native, monkeypatch):
    from skdeepcluster import _training

    monkeypatch.setattr(_training, "bf16_native", lambda device: native)
    ae = AutoEncoder(max_epochs=1, **TINY).fit(X)
    assert ae.mixed_precision == "auto" and ae.net_.mixed_precision is native
    forced = AutoEncoder(max_epochs=1, mixed_precision=not native, **TINY).fit(X)
    assert forced.net_.mixed_precision is (not native)


def test_bf16_native_reads_the_cpu():
    from skdeepcluster._training import bf16_native

    expected = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert bf16_native("cpu") is expected


class FakeLibc:
    """Records ``mallopt`` calls instead of changing the process's allocator."""

    def __init__(self):
        self.calls = []

    def mallopt(self, option, value):
        self.calls.append((option, value))
        return 1


@pytest.fixture
def heap_untouched(monkeypatch):
    """The ``_training`` module as in a fresh process with no malloc settings."""
    from skdeepcluster import _training

    for name in [n for n in os.environ if n.startswith("MALLOC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GLIBC_TUNABLES", "")
    monkeypatch.setattr(_training, "_heap_kept", False)
    return _training


def test_keep_heap_sets_glibc_thresholds_once_at_the_first_cpu_training(
        X, heap_untouched, monkeypatch):
    libc = FakeLibc()
    real = heap_untouched.keep_heap
    monkeypatch.setattr(heap_untouched, "keep_heap", lambda device: real(device, libc=libc))
    AutoEncoder(max_epochs=1, **TINY).fit(X)
    AutoEncoder(max_epochs=1, **TINY).fit(X)
    assert libc.calls == [(-3, 32 << 20), (-1, 64 << 20)]  # mmap, trim threshold; once


@pytest.mark.parametrize("env, device", [
    ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1048576"}, "cpu"),
    ({"MALLOC_ARENA_MAX": "2"}, "cpu"),
    ({}, "cuda"),
    ({}, "meta"),
])
def test_keep_heap_leaves_a_configured_malloc_and_other_devices_alone(
        env, device, heap_untouched, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    libc = FakeLibc()
    applied = heap_untouched.keep_heap(device, libc=libc)
    assert not applied and libc.calls == []
    if device == "cpu":  # the user's setting, still there later: never applied
        assert not heap_untouched.keep_heap(device, libc=libc) and libc.calls == []


def test_keep_heap_does_nothing_without_glibc(heap_untouched, monkeypatch):
    monkeypatch.setattr(heap_untouched.platform, "libc_ver", lambda: ("musl", "1.2"))
    monkeypatch.setattr(heap_untouched.ctypes, "CDLL",
                        lambda name: pytest.fail("loaded libc"))
    assert heap_untouched.keep_heap("cpu") is False
    assert heap_untouched._heap_kept  # decided once: not looked at again


@pytest.mark.parametrize("n_features, scale, expected", [
    (64, 16.0, (1, 8, 8)),    # digits / 16: 8 x 8 images with pixels in [0, 1]
    (64, 1.0, None),          # raw digits (0-16): not in [0, 1]
    (256, 16.0, (1, 16, 16)),
    (49, 16.0, None),         # 7 x 7: below the smallest side
    (63, 16.0, None),         # not a square
])
def test_auto_image_shape_rule(n_features, scale, expected):
    from skdeepcluster._base import resolve_image_shape

    X = np.random.RandomState(0).randint(0, 17, (20, n_features)) / scale
    assert resolve_image_shape("auto", X) == expected
    assert resolve_image_shape(None, X) is None
    assert resolve_image_shape((1, 1, n_features), X) == (1, 1, n_features)
    assert resolve_image_shape([1, 1, n_features], X) == (1, 1, n_features)


@pytest.mark.parametrize("shape", [(1, 7, 7), (1, 8), (0, 8, 8), (1.0, 8, 8)])
def test_bad_image_shape_is_a_clear_error(X, shape):
    with pytest.raises(ValueError, match="image_shape"):
        AutoEncoder(max_epochs=1, image_shape=shape, **TINY).fit(X)


def test_augmentation_trains_on_augmented_images_and_only_on_images(X):
    plain = AutoEncoder(max_epochs=3, augment=False, **TINY).fit(X)
    augmented = AutoEncoder(max_epochs=3, **TINY).fit(X)
    not_images = AutoEncoder(max_epochs=3, image_shape=None, **TINY).fit(X)
    assert augmented.image_shape_ == (1, 8, 8) and not_images.image_shape_ is None
    assert plain.image_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(plain.transform(X), not_images.transform(X))
    assert not np.allclose(plain.transform(X), augmented.transform(X), atol=1e-3)
    assert augmented.net_.augment is not None and not_images.net_.augment is None
    again = AutoEncoder(max_epochs=3, **TINY).fit(X)
    np.testing.assert_array_equal(again.transform(X), augmented.transform(X))


def test_the_loss_sees_the_augmented_batch(X, monkeypatch):
    # An "augmentation" that blanks every image: reconstructing the augmented batch
    # (all zeros) is easy and its loss falls far below that of reconstructing X.
    from skdeepcluster import _autoencoder

    class Blank:
        def __init__(self, image_shape):
            self.image_shape = image_shape

        def __call__(self, x, generator):
            return torch.zeros_like(x)

    monkeypatch.setattr(_autoencoder, "ImageAugmentation", Blank)
    # (One view per step: with the contrastive term, the blanked views' embeddings are
    # all alike and its loss stays at log(batch size).)
    blanked = AutoEncoder(max_epochs=20, loss="squared_error", contrastive=0,
                          **TINY).fit(X)
    plain = AutoEncoder(max_epochs=20, loss="squared_error", augment=False, **TINY).fit(X)
    assert blanked.history_[-1]["train_loss"] < plain.history_[-1]["train_loss"] / 10


def test_contrastive_auto_is_on_for_small_augmented_images_only(X):
    from skdeepcluster._autoencoder import CONTRASTIVE_WEIGHT, resolve_contrastive
    from skdeepcluster._base import SMALL_DATA

    assert resolve_contrastive("auto", SMALL_DATA - 1) == CONTRASTIVE_WEIGHT > 0
    assert resolve_contrastive("auto", SMALL_DATA) == 0.0
    assert resolve_contrastive(0.3, 10) == 0.3 and resolve_contrastive(0, 10) == 0.0
    fitted = AutoEncoder(max_epochs=1, **TINY).fit(X)
    assert fitted.net_.contrastive == CONTRASTIVE_WEIGHT
    # Not augmented: no second view, whatever the weight.
    for params in (dict(augment=False), dict(image_shape=None)):
        ae = AutoEncoder(max_epochs=1, contrastive=0.5, **params, **TINY).fit(X)
        assert ae.net_.contrastive == 0.0


def test_contrastive_term_trains_on_two_views_per_step(X, monkeypatch):
    from skdeepcluster import _autoencoder

    calls = []

    class Counting(_autoencoder.ImageAugmentation):
        def __call__(self, x, generator):
            calls.append(len(x))
            return super().__call__(x, generator)

    monkeypatch.setattr(_autoencoder, "ImageAugmentation", Counting)
    steps = -(-len(X) // TINY["batch_size"])
    plain = AutoEncoder(max_epochs=2, contrastive=0, **TINY).fit(X)
    assert len(calls) == 2 * steps
    calls.clear()
    contrastive = AutoEncoder(max_epochs=2, contrastive=0.5, **TINY).fit(X)
    assert len(calls) == 2 * 2 * steps
    assert not np.allclose(plain.transform(X), contrastive.transform(X), atol=1e-3)
    again = AutoEncoder(max_epochs=2, contrastive=0.5, **TINY).fit(X)
    np.testing.assert_array_equal(again.transform(X), contrastive.transform(X))


def test_info_nce_rewards_views_that_match_their_own_sample():
    from skdeepcluster._losses import info_nce

    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    shuffled = z[torch.randperm(16, generator=torch.Generator().manual_seed(1))]
    assert info_nce(z, z) < info_nce(z, shuffled)
    assert torch.isclose(info_nce(z, shuffled), info_nce(shuffled, z))
    # Chance level: every similarity equal gives log(n).
    ones = torch.ones(16, 4)
    assert torch.isclose(info_nce(ones, ones), torch.log(torch.tensor(16.0)))
    # A lower temperature sharpens the softmax: matched views score better still.
    assert info_nce(z, z, temperature=0.1) < info_nce(z, z, temperature=1.0)

"""Out-of-core input and per-batch scaling (issue 15, parts 1 and 2).

Every estimator fits and predicts on a ``np.memmap``, an h5py dataset, a zarr array and
a Dask array of ``uint8`` images with ``input_scale=1/255``, and gives exactly what it
gives on the same ``uint8`` array in memory with the same scaling.

Why equality holds (and can fail). The out-of-core path reads rows as stored and
casts each batch (``uint8`` -> float32 for training, -> float64 for inference, as
scikit-learn's validation converts ``uint8`` in memory), then multiplies by the scale:
element by element the very operations of the in-memory path, so the values are
identical. The batches are identical too: a memory map is read by random index from
the in-memory permutation, and a chunked store (h5py, zarr, Dask) rearranges that
permutation chunk by chunk only when the data does not fit in one shuffle buffer
(``ArraySource.arrange``); these stores (a few hundred rows) fit in one, so the order
is the in-memory permutation. Full-data passes run in the same row blocks as in memory.
Hence labels and embeddings are bit-equal. Any difference (a batch read in another
order, a cast in another dtype, the scale applied before the cast) changes the
embedding's last bits, which ``assert_array_equal`` on ``transform`` catches;
``test_small_buffers_shuffle_chunk_by_chunk`` shows that with several buffers the
order, hence the result, does differ.
"""

import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits

from _instances import assert_valid_labels, tiny_autoencoder, tiny_clusterers

from skdeepcluster import AutoEncoder, DECClusterer, VaDEClusterer
from skdeepcluster import _data
from skdeepcluster._data import ArraySource, validate_out_of_core
from skdeepcluster._training import BatchStream, _TensorData


def _optional(name, minversion=None):
    try:
        return pytest.importorskip(name, minversion=minversion)
    except pytest.skip.Exception:
        return None


h5py = _optional("h5py")
zarr = _optional("zarr", minversion="3")
da = _optional("dask.array")
needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py is not installed")
needs_zarr = pytest.mark.skipif(zarr is None, reason="zarr>=3 is not installed")
needs_dask = pytest.mark.skipif(da is None, reason="dask is not installed")

SCALE = 1 / 255
ESTIMATORS = [tiny_autoencoder(input_scale=SCALE), *tiny_clusterers(input_scale=SCALE)]
IDS = ["AE", "DEC", "IDEC", "DCN", "DeepCluster", "VaDE"]
KINDS = ["memmap", pytest.param("h5py", marks=needs_h5py),
         pytest.param("zarr", marks=needs_zarr), pytest.param("dask", marks=needs_dask)]


@pytest.fixture(scope="module")
def pixels():
    """240 of scikit-learn's digits as uint8 pixels (0..255)."""
    X, _ = load_digits(return_X_y=True)
    return np.round(X[:240] * (255 / 16)).astype(np.uint8)


def make_store(kind, X, path, chunk_rows=64):
    """``X`` as an out-of-core array of ``kind`` under ``path`` (chunks of rows)."""
    if kind == "memmap":
        mm = np.memmap(path / "X.dat", dtype=X.dtype, mode="w+", shape=X.shape)
        mm[:] = X
        mm.flush()
        return np.memmap(path / "X.dat", dtype=X.dtype, mode="r", shape=X.shape)
    if kind == "h5py":
        f = h5py.File(path / "X.h5", "w")
        return f.create_dataset("X", data=X, chunks=(chunk_rows, X.shape[1]))
    if kind == "zarr":
        z = zarr.create_array(store=str(path / "X.zarr"), shape=X.shape,
                              chunks=(chunk_rows, X.shape[1]), dtype=X.dtype)
        z[:] = X
        return z
    return da.from_array(X, chunks=(chunk_rows, X.shape[1]))


@pytest.fixture(scope="module")
def references(pixels):
    """Each estimator fitted on the in-memory uint8 array (computed once)."""
    cache = {}

    def get(i):
        if i not in cache:
            cache[i] = clone(ESTIMATORS[i]).fit(pixels)
        return cache[i]

    return get


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("index", range(len(ESTIMATORS)), ids=IDS)
def test_out_of_core_equals_in_memory(index, kind, pixels, references, tmp_path):
    ref = references(index)
    X = make_store(kind, pixels, tmp_path)
    est = clone(ESTIMATORS[index]).fit(X)

    Z = est.transform(X)
    assert Z.dtype == np.float64  # uint8 is computed in float64, as in memory
    np.testing.assert_array_equal(Z, ref.transform(pixels))
    assert est.score(X) == ref.score(pixels)
    if hasattr(ref, "labels_"):
        np.testing.assert_array_equal(est.labels_, ref.labels_)
        np.testing.assert_array_equal(est.predict(X), ref.predict(pixels))
        np.testing.assert_array_equal(est.predict(X), est.labels_)
        assert_valid_labels(est.labels_, est.n_clusters, len(pixels))
    # Predicting in-memory data with a model fitted out of core, and the reverse.
    np.testing.assert_array_equal(est.transform(pixels), ref.transform(X))


def test_float32_memmap_keeps_float32(pixels, tmp_path):
    X = (pixels / 255).astype(np.float32)
    mm = make_store("memmap", X, tmp_path)
    dec = clone(ESTIMATORS[1]).set_params(input_scale=None).fit(mm)
    ref = clone(dec).fit(X)
    assert dec.transform(mm).dtype == np.float32
    np.testing.assert_array_equal(dec.labels_, ref.labels_)


# -- chunk-level shuffling -------------------------------------------------------------
@pytest.fixture
def small_buffers(monkeypatch):
    """Shuffle buffers of two chunks, whatever their size in bytes."""
    monkeypatch.setattr(_data, "SHUFFLE_BUFFER_BYTES", 1)
    monkeypatch.setattr(_data, "SHUFFLE_BUFFER_CHUNKS", 2)


@needs_zarr
def test_small_buffers_shuffle_chunk_by_chunk(small_buffers, tmp_path):
    X = np.arange(100 * 3, dtype=np.float32).reshape(100, 3)
    z = make_store("zarr", X, tmp_path, chunk_rows=10)
    source = validate_out_of_core(AutoEncoder(), z, reset=True)
    gen = torch.Generator().manual_seed(0)
    plain = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    order = source.arrange(torch.randperm(100, generator=gen), gen)

    assert sorted(order.tolist()) == list(range(100))  # a permutation
    assert not torch.equal(order, plain)  # not the in-memory order
    chunks = order.numpy() // 10
    for start in range(0, 100, 20):  # every buffer: two whole chunks...
        assert len(set(chunks[start:start + 20])) == 2
    buffers = [order[start:start + 20] for start in range(0, 100, 20)]
    for rows in buffers:  # ... its rows shuffled within it
        assert not torch.equal(rows, rows.sort().values)

    # The batches of the stream are the rows of the order, read chunk by chunk.
    view = _data.training_data(source, "cpu")
    stream = BatchStream(_TensorData(view, torch.arange(100)), 16,
                         torch.Generator().manual_seed(1))
    rows = []
    for xb, y in stream:
        np.testing.assert_array_equal(xb.numpy(), X[y.numpy()])
        rows.extend(y.tolist())
    assert sorted(rows) == list(range(100))


@needs_zarr
@pytest.mark.parametrize("index", [1, 4], ids=["DEC", "DeepCluster"])
def test_fit_with_several_buffers(index, small_buffers, pixels, references, tmp_path):
    z = make_store("zarr", pixels, tmp_path, chunk_rows=40)
    est = clone(ESTIMATORS[index]).fit(z)
    assert_valid_labels(est.labels_, est.n_clusters, len(pixels))
    np.testing.assert_array_equal(est.predict(z), est.labels_)
    # Another order of batches: another (valid) result than in memory.
    assert not np.array_equal(est.transform(z), references(index).transform(pixels))


# -- the store is never loaded whole ---------------------------------------------------
class CountingDataset(h5py.Dataset if h5py is not None else object):
    """An h5py dataset that records the rows of every read and refuses a whole load."""

    reads = []

    def __getitem__(self, args):
        out = super().__getitem__(args)
        CountingDataset.reads.append(len(out))
        return out

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole dataset was loaded")

    def read_direct(self, *args, **kwargs):
        raise AssertionError("the whole dataset was loaded")


@needs_h5py
def test_fit_reads_the_store_block_by_block(monkeypatch, tmp_path):
    monkeypatch.setattr(_data, "VALIDATION_BLOCK_BYTES", 200 * 16)
    X = np.random.RandomState(0).randint(0, 256, size=(1500, 16)).astype(np.uint8)
    with h5py.File(tmp_path / "X.h5", "w") as f:
        f.create_dataset("X", data=X, chunks=(100, 16))
    with h5py.File(tmp_path / "X.h5", "r") as f:
        ds = CountingDataset(f["X"].id)
        CountingDataset.reads = []
        for est in tiny_clusterers(input_scale=SCALE, pretrain_epochs=1, max_epochs=1):
            est.fit(ds)
            est.predict(ds)
    assert CountingDataset.reads  # it was read, by blocks of at most 200 rows
    assert max(CountingDataset.reads) <= 200


def test_fit_on_memmap_allocates_no_copy(tmp_path):
    X = np.random.RandomState(0).randint(0, 256, size=(20_000, 256)).astype(np.uint8)
    mm = make_store("memmap", X, tmp_path)
    # init="kmeans": the data path is measured here, not the Gaussian mixture of
    # init="gmm", whose per-row state (rows x clusters, on at most GMM_MAX_ROWS rows)
    # would dominate so small a fit.
    dec = DECClusterer(n_clusters=3, hidden_dims=(8,), latent_dim=2, pretrain_epochs=1,
                       max_epochs=1, n_init=1, input_scale=SCALE, init="kmeans",
                       device="cpu", random_state=0)

    def peak(data):
        tracemalloc.start()
        try:
            clone(dec).fit(data).predict(data)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # NumPy allocations (tracemalloc sees them): in memory the uint8 data is converted
    # to float64 (8 bytes a value); out of core, not even one uint8 copy is made.
    assert peak(mm) < X.nbytes / 2
    assert peak(np.asarray(X)) > 4 * X.nbytes


# -- input_scale ---------------------------------------------------------------------
def test_auto_choices_see_the_scaled_range(pixels, tmp_path):
    ae = dict(hidden_dims=(8,), latent_dim=2, max_epochs=1, device="cpu", random_state=0)
    assert AutoEncoder(**ae).fit(pixels).module_.loss == "huber"
    assert (AutoEncoder(**ae, input_scale=SCALE).fit(pixels).module_.loss
            == "binary_cross_entropy")
    mm = make_store("memmap", pixels, tmp_path)
    assert (AutoEncoder(**ae, input_scale=SCALE).fit(mm).module_.loss
            == "binary_cross_entropy")
    assert AutoEncoder(**ae).fit(mm).module_.loss == "huber"
    # A scale that leaves values above 1: the Huber error again.
    assert AutoEncoder(**ae, input_scale=2 / 255).fit(mm).module_.loss == "huber"

    vade = VaDEClusterer(n_clusters=3, hidden_dims=(8,), latent_dim=2, pretrain_epochs=1,
                         max_epochs=1, n_init=1, device="cpu", random_state=0)
    assert clone(vade).fit(mm).likelihood_ == "gaussian"
    assert clone(vade).set_params(input_scale=SCALE).fit(mm).likelihood_ == "bernoulli"


@needs_dask
def test_unit_interval_settings_need_the_scale(pixels):
    ae = AutoEncoder(hidden_dims=(8,), latent_dim=2, max_epochs=1,
                     loss="binary_cross_entropy", device="cpu", random_state=0)
    with pytest.raises(ValueError, match=r"in \[0, 1\].*ranges over \[0, 255\]"):
        clone(ae).fit(pixels)
    clone(ae).set_params(input_scale=SCALE).fit(da.from_array(pixels, chunks=(50, 64)))


def test_inverse_transform_and_sample_are_in_the_units_of_X(pixels):
    ae = AutoEncoder(hidden_dims=(8,), latent_dim=2, max_epochs=2, device="cpu",
                     input_scale=SCALE, random_state=0).fit(pixels)
    X_rec = ae.inverse_transform(ae.transform(pixels))
    assert X_rec.shape == pixels.shape and 1 < X_rec.max() <= 255 + 1e-6
    vade = VaDEClusterer(n_clusters=3, hidden_dims=(8,), latent_dim=2, pretrain_epochs=1,
                         max_epochs=1, n_init=1, device="cpu", input_scale=SCALE,
                         random_state=0).fit(pixels)
    X_new, _ = vade.sample(20)
    assert 1 < X_new.max() <= 255 + 1e-6


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan"), "1/255"])
@pytest.mark.parametrize("index", range(len(ESTIMATORS)), ids=IDS)
def test_bad_input_scale(index, value, pixels):
    est = clone(ESTIMATORS[index]).set_params(input_scale=value)
    with pytest.raises(ValueError, match="input_scale"):
        est.fit(pixels)


def test_autoencoder_scale_must_match(pixels):
    ae = AutoEncoder(hidden_dims=(8,), latent_dim=2, max_epochs=1, device="cpu",
                     random_state=0).fit(pixels)
    dec = DECClusterer(n_clusters=3, autoencoder=ae, max_epochs=1, n_init=1,
                       input_scale=SCALE, device="cpu", random_state=0)
    with pytest.raises(ValueError, match="input_scale=None.*input_scale=0.0039"):
        dec.fit(pixels)


# -- validation, streamed ------------------------------------------------------------
@pytest.mark.parametrize("kind", ["memmap", pytest.param("zarr", marks=needs_zarr)])
def test_non_finite_value_in_a_chunk(kind, tmp_path):
    X = np.random.RandomState(0).rand(300, 8).astype(np.float32)
    X[217, 5] = np.nan
    store = make_store(kind, X, tmp_path)
    dec = clone(ESTIMATORS[1])
    with pytest.raises(ValueError, match=r"NaN or infinity \(row 217\)"):
        dec.fit(store)
    assert not hasattr(dec, "n_features_in_")

    dec.fit(np.nan_to_num(X))  # at inference, the block holding it fails as it is read
    with pytest.raises(ValueError, match=r"NaN or infinity \(row 217\)"):
        dec.predict(store)


@needs_h5py
@needs_dask
def test_predict_with_another_number_of_features(pixels, tmp_path):
    dec = clone(ESTIMATORS[1]).fit(make_store("h5py", pixels, tmp_path))
    assert dec.n_features_in_ == 64
    with pytest.raises(ValueError, match="X has 63 features, but DECClusterer is "
                                         "expecting 64 features"):
        dec.predict(da.from_array(pixels[:, 1:]))


@needs_dask
@pytest.mark.parametrize("X, match", [
    (np.zeros(10), "Expected a 2D array"),
    (np.array([["a"] * 3] * 4), "must be numeric"),
    (np.zeros((1, 3)), "minimum of 2 is required"),
    (np.zeros((2, 3)), "n_samples=2 should be >= n_clusters=3"),
], ids=["1d", "strings", "one-sample", "too-few-for-k"])
def test_bad_out_of_core_input(X, match):
    with pytest.raises(ValueError, match=match):
        clone(ESTIMATORS[1]).fit(da.from_array(X))


@needs_dask
def test_dask_array_of_unknown_shape(pixels):
    X = da.from_array(pixels, chunks=(50, 64))
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        clone(ESTIMATORS[1]).fit(X[X[:, 0] >= 0])


@needs_zarr
def test_cached_pretraining_and_checkpoint_out_of_core(pixels, tmp_path):
    z = make_store("zarr", pixels, tmp_path)
    dec = clone(ESTIMATORS[1]).set_params(memory=str(tmp_path / "cache"),
                                          checkpoint=str(tmp_path / "ckpt"))
    first = clone(dec).fit(z)
    again = clone(dec).fit(z)
    assert again.resumed_from_["stage"] == "finished"
    np.testing.assert_array_equal(again.labels_, first.labels_)
    fresh = clone(dec).set_params(checkpoint=None).fit(z)  # pretraining from the cache
    np.testing.assert_array_equal(fresh.labels_, first.labels_)


def test_array_source_is_not_an_array_for_sklearn():
    """Lists, DataFrames and plain arrays stay in memory; memmaps go out of core."""
    assert not _data.is_out_of_core(np.zeros((3, 2)))
    assert not _data.is_out_of_core([[0.0, 1.0]])
    assert isinstance(_data.with_scale(np.zeros((3, 2)), 0.5), ArraySource)
    assert _data.with_scale(np.zeros((3, 2)), None).__class__ is np.ndarray


@pytest.mark.parametrize("kind", KINDS)
def test_digest_comes_from_the_validation_pass_and_reads_chunks_once(kind, pixels,
                                                                     tmp_path, monkeypatch):
    from skdeepcluster import _checkpoint

    X = make_store(kind, pixels, tmp_path, chunk_rows=64)
    validated = validate_out_of_core(AutoEncoder(), X, reset=True)
    fresh = ArraySource(X, dtype=np.float64)
    assert fresh.digest is None and validated.digest is not None
    reads = []
    original = ArraySource.read
    monkeypatch.setattr(ArraySource, "read",
                        lambda self, a, b: reads.append((a, b)) or original(self, a, b))
    monkeypatch.setattr(_checkpoint, "_HASH_BLOCK_BYTES", 100 * pixels.shape[1])
    assert _checkpoint.data_digest(validated) == validated.digest and not reads
    assert _checkpoint.data_digest(fresh) == validated.digest
    rows = [b - a for a, b in reads]
    assert sum(rows) == len(pixels)  # every row once, in blocks along the chunks
    if kind != "memmap":
        assert all(a % 64 == 0 for a, _ in reads)
    assert _checkpoint.data_digest(fresh.replace(scale=2.0)) == validated.digest
    changed = pixels.copy()
    changed[200, 5] ^= 1
    (tmp_path / "changed").mkdir()
    other = validate_out_of_core(AutoEncoder(), make_store(kind, changed,
                                                           tmp_path / "changed"), reset=True)
    assert other.digest != validated.digest

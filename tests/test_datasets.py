import gzip
import os
import struct

import numpy as np
import pytest
from sklearn.utils import Bunch

from skdeepcluster.datasets import get_data_home, load_mnist, load_usps

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _write_npz(path, n=10, d=784, train_size=7, dtype=np.uint8, seed=0):
    rng = np.random.RandomState(seed)
    if np.issubdtype(dtype, np.integer):
        X = rng.randint(0, 256, size=(n, d)).astype(dtype)
    else:
        X = rng.rand(n, d).astype(dtype)
    y = rng.randint(0, 10, size=n).astype(np.int32)
    np.savez(path, X=X, y=y, train_size=np.int64(train_size))
    return X, y


def _idx_images(images, magic=0x00000803):
    n, r, c = images.shape
    return struct.pack(">IIII", magic, n, r, c) + images.astype(np.uint8).tobytes()


def _idx_labels(labels, magic=0x00000801):
    return struct.pack(">II", magic, len(labels)) + labels.astype(np.uint8).tobytes()


def _write_idx(directory, n_train=5, n_test=3, compressed=True, seed=0):
    rng = np.random.RandomState(seed)
    Xtr = rng.randint(0, 256, size=(n_train, 28, 28)).astype(np.uint8)
    Xte = rng.randint(0, 256, size=(n_test, 28, 28)).astype(np.uint8)
    ytr = rng.randint(0, 10, size=n_train).astype(np.uint8)
    yte = rng.randint(0, 10, size=n_test).astype(np.uint8)
    payloads = [_idx_images(Xtr), _idx_labels(ytr), _idx_images(Xte), _idx_labels(yte)]
    for name, payload in zip(IDX_NAMES, payloads):
        if compressed:
            with gzip.open(os.path.join(directory, name + ".gz"), "wb") as f:
                f.write(payload)
        else:
            with open(os.path.join(directory, name), "wb") as f:
                f.write(payload)
    return Xtr, ytr, Xte, yte


# --------------------------------------------------------------- get_data_home


def test_get_data_home_explicit(tmp_path):
    target = tmp_path / "does_not_exist"
    assert get_data_home(str(target)) == str(target)
    assert get_data_home(target) == str(target)
    assert not target.exists()  # never created


@pytest.mark.parametrize("loader", [get_data_home, load_usps, load_mnist])
def test_data_home_of_another_type_names_the_parameter(loader):
    with pytest.raises(TypeError, match="data_home must be a path"):
        loader(3) if loader is get_data_home else loader(data_home=3)


def test_get_data_home_env_var(monkeypatch, tmp_path):
    target = tmp_path / "from_env"
    monkeypatch.setenv("SKDEEPCLUSTER_DATA", str(target))
    assert get_data_home() == str(target)
    assert not target.exists()
    # explicit argument wins over env var
    assert get_data_home(str(tmp_path)) == str(tmp_path)


def test_get_data_home_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SKDEEPCLUSTER_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    home = get_data_home()
    assert home == os.path.join(str(tmp_path), "skdeepcluster_data")
    assert not os.path.exists(home)


def test_get_data_home_expanduser(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home("~/abc") == os.path.join(str(tmp_path), "abc")


# ----------------------------------------------------------------------- npz


@pytest.mark.parametrize("loader, fname, d, dtype", [
    (load_mnist, "mnist.npz", 784, np.uint8),
    (load_usps, "usps.npz", 256, np.float32),
])
def test_npz_subsets(tmp_path, loader, fname, d, dtype):
    X, y = _write_npz(tmp_path / fname, n=10, d=d, train_size=7, dtype=dtype)

    bunch = loader(data_home=tmp_path)
    assert isinstance(bunch, Bunch)
    assert bunch.data.shape == (10, d)
    assert bunch.data.dtype == dtype
    assert bunch.target.dtype == np.int64
    assert bunch.train_size == 7
    assert isinstance(bunch.DESCR, str) and bunch.DESCR
    np.testing.assert_array_equal(bunch.data, X)  # raw values, not rescaled
    np.testing.assert_array_equal(bunch.target, y)

    train = loader(data_home=tmp_path, subset="train")
    np.testing.assert_array_equal(train.data, X[:7])
    np.testing.assert_array_equal(train.target, y[:7])
    assert train.train_size == 7

    test = loader(data_home=tmp_path, subset="test")
    np.testing.assert_array_equal(test.data, X[7:])
    np.testing.assert_array_equal(test.target, y[7:])
    assert test.train_size == 0

    Xr, yr = loader(data_home=tmp_path, subset="test", return_X_y=True)
    np.testing.assert_array_equal(Xr, X[7:])
    np.testing.assert_array_equal(yr, y[7:])
    assert yr.dtype == np.int64


def test_env_var_used_by_loaders(monkeypatch, tmp_path):
    X, _ = _write_npz(tmp_path / "usps.npz", n=6, d=256, train_size=4,
                      dtype=np.float32)
    monkeypatch.setenv("SKDEEPCLUSTER_DATA", str(tmp_path))
    Xl, yl = load_usps(return_X_y=True)
    np.testing.assert_array_equal(Xl, X)


def test_npz_takes_precedence_over_idx(tmp_path):
    X, _ = _write_npz(tmp_path / "mnist.npz", n=4, train_size=2)
    _write_idx(tmp_path, n_train=5, n_test=3)
    Xl, _ = load_mnist(data_home=tmp_path, return_X_y=True)
    np.testing.assert_array_equal(Xl, X)


def test_npz_missing_key(tmp_path):
    np.savez(tmp_path / "mnist.npz", X=np.zeros((3, 784), np.uint8),
             y=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="train_size"):
        load_mnist(data_home=tmp_path)


def test_npz_bad_train_size(tmp_path):
    np.savez(tmp_path / "usps.npz", X=np.zeros((3, 256), np.float32),
             y=np.zeros(3, np.int64), train_size=np.int64(5))
    with pytest.raises(ValueError, match="train_size"):
        load_usps(data_home=tmp_path)


@pytest.mark.parametrize("content", [b"not an archive at all", b"PK\x03\x04truncated"],
                         ids=["garbage", "truncated-zip"])
def test_npz_unreadable_names_the_file(tmp_path, content):
    (tmp_path / "usps.npz").write_bytes(content)
    with pytest.raises(ValueError, match=r"usps\.npz.*cannot be read as an npz archive"):
        load_usps(data_home=tmp_path)


def test_npz_holding_one_array(tmp_path):
    np.save(tmp_path / "usps.npy", np.zeros((3, 256), np.float32))
    (tmp_path / "usps.npy").rename(tmp_path / "usps.npz")
    with pytest.raises(ValueError, match="single array, not an npz archive"):
        load_usps(data_home=tmp_path)


@pytest.mark.parametrize("y", [np.array(["0", "1", "2"]), np.array([0.5, 1.0, 2.0])],
                         ids=["strings", "floats"])
def test_npz_labels_must_be_integers(tmp_path, y):
    np.savez(tmp_path / "usps.npz", X=np.zeros((3, 256), np.float32), y=y,
             train_size=np.int64(2))
    with pytest.raises(ValueError, match="'y' must hold integer class labels"):
        load_usps(data_home=tmp_path)


def test_npz_integral_float_labels_are_read_as_integers(tmp_path):
    np.savez(tmp_path / "usps.npz", X=np.zeros((3, 256), np.float32),
             y=np.array([0.0, 1.0, 2.0]), train_size=np.int64(2))
    X, y = load_usps(data_home=tmp_path, subset="all", return_X_y=True)
    assert y.dtype == np.int64 and list(y) == [0, 1, 2]


# ----------------------------------------------------------------------- IDX


@pytest.mark.parametrize("compressed", [True, False])
def test_mnist_idx(tmp_path, compressed):
    Xtr, ytr, Xte, yte = _write_idx(tmp_path, n_train=5, n_test=3,
                                    compressed=compressed)
    bunch = load_mnist(data_home=tmp_path)
    assert bunch.data.shape == (8, 784)
    assert bunch.data.dtype == np.uint8
    assert bunch.target.dtype == np.int64
    assert bunch.train_size == 5
    np.testing.assert_array_equal(bunch.data[:5], Xtr.reshape(5, -1))
    np.testing.assert_array_equal(bunch.data[5:], Xte.reshape(3, -1))
    np.testing.assert_array_equal(bunch.target, np.concatenate([ytr, yte]))

    X, y = load_mnist(data_home=tmp_path, subset="train", return_X_y=True)
    np.testing.assert_array_equal(X, Xtr.reshape(5, -1))
    np.testing.assert_array_equal(y, ytr)
    X, y = load_mnist(data_home=tmp_path, subset="test", return_X_y=True)
    np.testing.assert_array_equal(X, Xte.reshape(3, -1))
    np.testing.assert_array_equal(y, yte)


def test_mnist_idx_mixed_compression(tmp_path):
    Xtr, _, _, _ = _write_idx(tmp_path, compressed=True)
    # replace one gz file with its uncompressed counterpart
    name = IDX_NAMES[3]
    with gzip.open(tmp_path / (name + ".gz"), "rb") as f:
        payload = f.read()
    os.remove(tmp_path / (name + ".gz"))
    (tmp_path / name).write_bytes(payload)
    X, _ = load_mnist(data_home=tmp_path, subset="train", return_X_y=True)
    np.testing.assert_array_equal(X, Xtr.reshape(len(Xtr), -1))


def test_idx_bad_magic(tmp_path):
    _write_idx(tmp_path, compressed=False)
    images = np.zeros((5, 28, 28), np.uint8)
    (tmp_path / IDX_NAMES[0]).write_bytes(_idx_images(images, magic=0x00000801))
    with pytest.raises(ValueError, match="magic") as exc:
        load_mnist(data_home=tmp_path)
    assert IDX_NAMES[0] in str(exc.value)


def test_idx_truncated_data(tmp_path):
    _write_idx(tmp_path, compressed=True)
    payload = _idx_images(np.zeros((5, 28, 28), np.uint8))[:-10]
    with gzip.open(tmp_path / (IDX_NAMES[2] + ".gz"), "wb") as f:
        f.write(payload)
    with pytest.raises(ValueError, match="Corrupt IDX"):
        load_mnist(data_home=tmp_path)


def test_idx_label_count_mismatch(tmp_path):
    _write_idx(tmp_path, n_train=5, compressed=False)
    (tmp_path / IDX_NAMES[1]).write_bytes(_idx_labels(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="5 images.*4"):
        load_mnist(data_home=tmp_path)


def test_idx_not_gzip(tmp_path):
    _write_idx(tmp_path, compressed=True)
    (tmp_path / (IDX_NAMES[0] + ".gz")).write_bytes(b"not a gzip file at all")
    with pytest.raises(ValueError, match="IDX"):
        load_mnist(data_home=tmp_path)


# ------------------------------------------------------------------ errors


def test_mnist_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        load_mnist(data_home=tmp_path)
    msg = str(exc.value)
    assert str(tmp_path) in msg
    assert "mnist.npz" in msg
    for name in IDX_NAMES:
        assert name + ".gz" in msg
    assert "data_home" in msg
    assert "SKDEEPCLUSTER_DATA" in msg


def test_mnist_partial_idx_is_missing(tmp_path):
    _write_idx(tmp_path)
    os.remove(tmp_path / (IDX_NAMES[3] + ".gz"))
    with pytest.raises(FileNotFoundError, match="t10k-labels"):
        load_mnist(data_home=tmp_path)


def test_usps_missing_file_message(tmp_path):
    missing_dir = tmp_path / "nope"
    with pytest.raises(FileNotFoundError) as exc:
        load_usps(data_home=missing_dir)
    msg = str(exc.value)
    assert str(missing_dir) in msg
    assert "usps.npz" in msg
    assert "data_home" in msg and "SKDEEPCLUSTER_DATA" in msg
    assert not missing_dir.exists()


@pytest.mark.parametrize("loader", [load_mnist, load_usps])
@pytest.mark.parametrize("subset", ["valid", "Train", None, 1])
def test_bad_subset(tmp_path, loader, subset):
    # checked before looking for files
    with pytest.raises(ValueError, match="subset"):
        loader(data_home=tmp_path, subset=subset)


@pytest.mark.parametrize("loader", [load_mnist, load_usps])
def test_keyword_only(tmp_path, loader):
    with pytest.raises(TypeError):
        loader(str(tmp_path))

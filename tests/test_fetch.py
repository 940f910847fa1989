"""fetch_mnist / fetch_usps against a local HTTP server serving small synthetic files.

The real checksums cannot match synthetic files: each test points the fetcher at the
local server (``base_url`` or the environment variable) and replaces the entries of the
checksum registry (``_fetch._CHECKSUMS``) by those of the files it serves.
"""

import os
import sys

import numpy as np
import pytest
from _fetch_server import (
    MNIST_NAMES,
    USPS_NAMES,
    LocalServer,
    md5,
    mnist_files,
    sha256,
    usps_files,
)
from sklearn.utils import Bunch

from skdeepcluster.datasets import (
    _fetch,
    fetch_mnist,
    fetch_usps,
    load_mnist,
    load_usps,
)

pytest.importorskip("pooch")


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.stop()


@pytest.fixture
def mnist(server, monkeypatch):
    """Serve synthetic MNIST under /mirror/ with matching checksums registered."""
    files, arrays = mnist_files()
    server.add("mirror", files)
    for name, body in files.items():
        monkeypatch.setitem(_fetch._CHECKSUMS, name, sha256(body))
    return files, arrays


@pytest.fixture
def usps(server, monkeypatch):
    """Serve synthetic USPS under /mirror/ with matching checksums registered."""
    files, raw = usps_files()
    server.add("mirror", files)
    for name, body in files.items():
        monkeypatch.setitem(_fetch._CHECKSUMS, name, md5(body))
    return files, raw


@pytest.fixture(autouse=True)
def no_env_override(monkeypatch):
    monkeypatch.delenv(_fetch.MNIST_URL_ENV, raising=False)
    monkeypatch.delenv(_fetch.USPS_URL_ENV, raising=False)


def test_registry_holds_published_checksums():
    # The real values, as cited in _fetch.py; the tests below replace them.
    assert _fetch._CHECKSUMS["train-images-idx3-ubyte.gz"] == (
        "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609")
    assert _fetch._CHECKSUMS["usps.bz2"] == "md5:ec16c51db3855ca6c91edd34d0e9b197"
    assert set(_fetch._CHECKSUMS) == set(MNIST_NAMES) | set(USPS_NAMES)


def test_fetch_mnist_downloads_and_loads(server, mnist, tmp_path):
    files, (X_train, y_train, X_test, y_test) = mnist
    home = tmp_path / "home"  # created by the fetcher
    bunch = fetch_mnist(data_home=home, base_url=server.url("mirror"), verbose=False)
    assert isinstance(bunch, Bunch)
    assert bunch.data.dtype == np.uint8 and bunch.data.shape == (8, 784)
    assert bunch.target.dtype == np.int64
    assert bunch.train_size == 5
    np.testing.assert_array_equal(bunch.data[:5], X_train.reshape(5, -1))
    np.testing.assert_array_equal(bunch.data[5:], X_test.reshape(3, -1))
    np.testing.assert_array_equal(bunch.target, np.concatenate([y_train, y_test]))
    assert "MNIST" in bunch.DESCR
    assert sorted(os.listdir(home)) == sorted(MNIST_NAMES)  # no temporary file left
    for name, body in files.items():
        assert (home / name).read_bytes() == body
    assert sorted(server.requests) == sorted(f"/mirror/{name}" for name in MNIST_NAMES)

    # load_mnist reads what fetch_mnist stored.
    X, y = load_mnist(data_home=home, return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)

    X, y = fetch_mnist(data_home=home, subset="test", return_X_y=True,
                       base_url=server.url("mirror"), verbose=False)
    np.testing.assert_array_equal(X, X_test.reshape(3, -1))
    np.testing.assert_array_equal(y, y_test)


def test_fetch_usps_converts_to_load_usps_format(server, usps, tmp_path):
    _, (X_train, l_train, X_test, l_test) = usps
    bunch = fetch_usps(data_home=tmp_path, base_url=server.url("mirror"), verbose=False)
    assert bunch.data.dtype == np.float32 and bunch.data.shape == (10, 256)
    assert bunch.target.dtype == np.int64
    assert bunch.train_size == 6
    expected = (np.concatenate([X_train, X_test]) + 1) / 2
    np.testing.assert_allclose(bunch.data, expected, atol=1e-6)
    assert bunch.data.min() == 0.0 and bunch.data.max() == 1.0
    assert bunch.data[0, 2] == 0.5  # an entry the LIBSVM row leaves out is 0 -> 0.5
    np.testing.assert_array_equal(bunch.target, np.concatenate([l_train, l_test]) - 1)
    assert bunch.target[0] == 0 and bunch.target[1] == 9  # labels 1 and 10
    assert "[-1, 1]" in bunch.DESCR

    # usps.npz was written for load_usps, which returns the same data.
    assert sorted(os.listdir(tmp_path)) == sorted(USPS_NAMES + ("usps.npz",))
    loaded = load_usps(data_home=tmp_path)
    np.testing.assert_array_equal(loaded.data, bunch.data)
    np.testing.assert_array_equal(loaded.target, bunch.target)
    assert loaded.train_size == bunch.train_size

    X, y = fetch_usps(data_home=tmp_path, subset="train", return_X_y=True,
                      verbose=False)  # from the cache
    np.testing.assert_array_equal(X, bunch.data[:6])
    np.testing.assert_array_equal(y, bunch.target[:6])


def test_fetch_usps_keeps_an_existing_usps_npz(server, usps, tmp_path):
    mine = dict(X=np.zeros((3, 256), np.float32), y=np.arange(3), train_size=np.int64(2))
    np.savez(tmp_path / "usps.npz", **mine)
    fetch_usps(data_home=tmp_path, base_url=server.url("mirror"), verbose=False)
    np.testing.assert_array_equal(load_usps(data_home=tmp_path).data, mine["X"])


@pytest.mark.parametrize("fetch, dataset", [(fetch_mnist, "mnist"), (fetch_usps, "usps")])
def test_cache_hit_without_network(server, mnist, usps, tmp_path, fetch, dataset):
    first = fetch(data_home=tmp_path, base_url=server.url("mirror"), verbose=False)
    n_requests = len(server.requests)
    assert n_requests == {"mnist": 4, "usps": 2}[dataset]
    server.stop()  # any network access now fails
    second = fetch(data_home=tmp_path, base_url=server.url("mirror"), verbose=False)
    third = fetch(data_home=tmp_path, download_if_missing=False, verbose=False)
    assert len(server.requests) == n_requests
    for again in (second, third):
        np.testing.assert_array_equal(again.data, first.data)
        np.testing.assert_array_equal(again.target, first.target)


def test_checksum_mismatch_is_reported_and_deleted(server, usps, monkeypatch, tmp_path):
    monkeypatch.setitem(_fetch._CHECKSUMS, "usps.bz2", md5(b"something else"))
    with pytest.raises(_fetch.DownloadError) as exc:
        fetch_usps(data_home=tmp_path, base_url=server.url("mirror"), verbose=False)
    msg = str(exc.value)
    assert isinstance(exc.value, OSError)
    assert "usps.bz2" in msg and "checksum mismatch" in msg
    assert server.url("mirror") + "usps.bz2" in msg
    assert "\n" not in msg
    assert os.listdir(tmp_path) == []  # neither the file nor a temporary copy is kept


def test_dropped_connection_is_reported_and_deleted(server, mnist, tmp_path):
    server.drop.add("/mirror/t10k-images-idx3-ubyte.gz")
    with pytest.raises(_fetch.DownloadError, match="t10k-images-idx3-ubyte.gz") as exc:
        fetch_mnist(data_home=tmp_path, base_url=server.url("mirror"), verbose=False)
    # urllib3 reports the short body; were it not to, the checksum would catch it.
    assert ("connection failed or interrupted" in str(exc.value)
            or "checksum mismatch" in str(exc.value))
    # The two files downloaded before are complete and kept; nothing else is.
    assert sorted(os.listdir(tmp_path)) == sorted(MNIST_NAMES[:2])
    # Once the server behaves, the next call completes the download.
    server.drop.clear()
    X, _ = fetch_mnist(data_home=tmp_path, base_url=server.url("mirror"),
                       return_X_y=True, verbose=False)
    assert X.shape == (8, 784)
    assert server.requests.count("/mirror/train-images-idx3-ubyte.gz") == 1


@pytest.mark.parametrize("fetch, names", [(fetch_mnist, MNIST_NAMES),
                                          (fetch_usps, USPS_NAMES)])
def test_offline_without_files_names_the_paths(server, tmp_path, fetch, names):
    home = tmp_path / "offline"
    with pytest.raises(FileNotFoundError) as exc:
        fetch(data_home=home, download_if_missing=False, base_url=server.url("mirror"))
    msg = str(exc.value)
    for name in names:
        assert str(home / name) in msg
    assert "download_if_missing=False" in msg
    assert server.requests == []  # nothing was attempted
    assert not home.exists()


def test_mirror_fallback(server, mnist, tmp_path):
    urls = [server.url("gone"), server.url("mirror")]
    X, y = fetch_mnist(data_home=tmp_path, base_url=urls, return_X_y=True, verbose=False)
    assert X.shape == (8, 784)
    for name in MNIST_NAMES:  # each file: a 404 on the first mirror, then the second
        assert server.requests.count(f"/gone/{name}") == 1
        assert server.requests.count(f"/mirror/{name}") == 1


def test_all_mirrors_fail_lists_each(server, mnist, tmp_path):
    urls = [server.url("gone"), server.url("missing")]
    with pytest.raises(_fetch.DownloadError) as exc:
        fetch_mnist(data_home=tmp_path, base_url=urls, verbose=False)
    msg = str(exc.value)
    assert msg.count("HTTP 404") == 2
    assert urls[0] + MNIST_NAMES[0] in msg and urls[1] + MNIST_NAMES[0] in msg
    assert os.listdir(tmp_path) == []


def test_environment_variable_sets_the_source(server, usps, monkeypatch, tmp_path):
    monkeypatch.setenv(_fetch.USPS_URL_ENV, f"{server.url('gone')} {server.url('mirror')}")
    X, _ = fetch_usps(data_home=tmp_path, return_X_y=True, verbose=False)
    assert X.shape == (10, 256)
    assert server.requests[:2] == ["/gone/usps.bz2", "/mirror/usps.bz2"]
    # An explicit base_url wins over the environment variable.
    monkeypatch.setenv(_fetch.USPS_URL_ENV, server.url("gone"))
    fetch_usps(data_home=tmp_path / "other", base_url=server.url("mirror"), verbose=False)
    assert server.requests[-2:] == ["/mirror/usps.bz2", "/mirror/usps.t.bz2"]


def test_corrupt_cached_file(server, usps, tmp_path):
    fetch_usps(data_home=tmp_path, base_url=server.url("mirror"), verbose=False)
    good = (tmp_path / "usps.t.bz2").read_bytes()
    (tmp_path / "usps.t.bz2").write_bytes(good[:-20])  # truncated on disk
    with pytest.raises(ValueError, match="Corrupt file .*does not match the published"):
        fetch_usps(data_home=tmp_path, download_if_missing=False)
    # With downloads allowed, the corrupt copy is replaced.
    fetch_usps(data_home=tmp_path, base_url=server.url("mirror"), verbose=False)
    assert (tmp_path / "usps.t.bz2").read_bytes() == good


def test_verbose_progress_and_silence(server, usps, tmp_path, capfd):
    fetch_usps(data_home=tmp_path / "quiet", base_url=server.url("mirror"), verbose=False)
    assert capfd.readouterr() == ("", "")
    fetch_usps(data_home=tmp_path / "loud", base_url=server.url("mirror"), verbose=True)
    assert "100%" in capfd.readouterr().err  # the progress bar, on stderr


def test_missing_pooch_is_a_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pooch", None)  # `import pooch` now fails
    with pytest.raises(ImportError, match=r"skdeepcluster\[fetch\]"):
        fetch_usps(data_home=tmp_path, base_url="http://127.0.0.1:9/")


@pytest.mark.parametrize("base_url", ["", [], ["http://x/", 3]])
def test_bad_base_url(tmp_path, base_url):
    with pytest.raises(ValueError, match="base_url"):
        fetch_usps(data_home=tmp_path, base_url=base_url, verbose=False)


@pytest.mark.parametrize("fetch", [fetch_mnist, fetch_usps])
def test_bad_subset_checked_first(tmp_path, fetch):
    with pytest.raises(ValueError, match="subset"):
        fetch(data_home=tmp_path, subset="validation")
    assert os.listdir(tmp_path) == []


def test_bad_libsvm_labels(server, monkeypatch, tmp_path):
    import bz2

    bad = bz2.compress(b"11 1:0.5\n")  # label outside 1-10
    files = {"usps.bz2": bad, "usps.t.bz2": bad}
    server.add("bad", files)
    for name, body in files.items():
        monkeypatch.setitem(_fetch._CHECKSUMS, name, md5(body))
    with pytest.raises(ValueError, match="labels must be the integers 1-10"):
        fetch_usps(data_home=tmp_path, base_url=server.url("bad"), verbose=False)

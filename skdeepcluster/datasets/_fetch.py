"""Fetchers: download MNIST and USPS once into the data home, checked by checksum.

The downloads go through `pooch <https://www.fatiando.org/pooch/>`__ (an optional
dependency: ``pip install "skdeepcluster[fetch]"``), which writes each file to a
temporary name next to its destination, checks its hash and only then renames it into
place, so a truncated or corrupt download is never kept. Files already in the data home
are checked against the same checksums and used without any network access.
"""

import contextlib
import hashlib
import importlib.util
import logging
import os
import tempfile

import numpy as np

from ._base import (
    _MNIST_DESCR,
    _MNIST_IDX_FILES,
    _USPS_DESCR,
    _check_subset,
    _load_mnist_idx,
    _select,
    get_data_home,
)

MNIST_URL_ENV = "SKDEEPCLUSTER_MNIST_URL"
USPS_URL_ENV = "SKDEEPCLUSTER_USPS_URL"

# Seconds without any data from the server before a download is abandoned.
_TIMEOUT = 60

# Where the files are published, tried in this order. Each URL is a base: the file name
# is appended to it.
_MNIST_MIRRORS = (
    # The copy torchvision downloads (torchvision/datasets/mnist.py, MNIST.mirrors).
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    # The copy TensorFlow and TensorFlow Datasets download
    # (tensorflow_datasets/url_checksums/mnist.txt).
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    # The original page, often unavailable nowadays.
    "http://yann.lecun.com/exdb/mnist/",
)
_USPS_MIRRORS = (
    # The LIBSVM data sets page (Chang and Lin), the copy torchvision downloads
    # (torchvision/datasets/usps.py); it has no mirror.
    "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/",
)

# The checksum ("algorithm:hexdigest", pooch's notation) of every file a fetcher
# downloads. Tests replace entries of this dict to serve small synthetic files.
_CHECKSUMS = {
    # MNIST: SHA-256 from TensorFlow Datasets, tensorflow_datasets/url_checksums/mnist.txt
    # (which also gives the sizes: 9,912,422, 28,881, 1,648,877 and 4,542 bytes). The
    # same four files have the MD5 sums torchvision checks (torchvision/datasets/mnist.py,
    # MNIST.resources): f68b3c2dcbeaaa9fbdd348bbdeb94873, d53e105ee54ea40749a09fcbcd1e9432,
    # 9fb629c4189551a2d022fa330f9573f3 and ec29112dd5afa0611ce80d1b7f02629c.
    "train-images-idx3-ubyte.gz":
        "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    # USPS (LIBSVM copy): MD5 from torchvision/datasets/usps.py (USPS.split_list); no
    # SHA-256 is published for these files.
    "usps.bz2": "md5:ec16c51db3855ca6c91edd34d0e9b197",
    "usps.t.bz2": "md5:8ea070ee2aca1ac39742fdd1ef5ed118",
}

_MNIST_FILES = tuple(name + ".gz" for name in _MNIST_IDX_FILES.values())
_USPS_FILES = ("usps.bz2", "usps.t.bz2")

_MNIST_FETCH_DESCR = _MNIST_DESCR + """
Fetched as the four original IDX files (train-images-idx3-ubyte.gz, ...), checked
against published SHA-256 checksums.
"""

_USPS_FETCH_DESCR = _USPS_DESCR.replace(
    "float32 in [0, 1], returned as stored.",
    "float32 in [0, 1].",
) + """
Fetched from the LIBSVM data sets page (usps.bz2 and usps.t.bz2, checked against
published MD5 checksums), which stores the pixels in [-1, 1] and the labels as 1-10:
pixels are mapped to [0, 1] by (x + 1) / 2 and labels to 0-9 by subtracting 1.
"""


class DownloadError(OSError):
    """No source delivered a file whose checksum matches the published one.

    Raised when every URL tried failed: an HTTP error, a refused, interrupted or timed
    out connection, or a download whose checksum does not match (truncated or
    corrupt). The message names each URL and why it failed. No partial or corrupt
    download is kept.
    """


# -- helpers -----------------------------------------------------------------------------
def _one_line(text):
    return " ".join(str(text).split())


def _join_url(base, name):
    return base.rstrip("/") + "/" + name


def _mirrors(base_url, env_var, defaults):
    """The base URLs to try: ``base_url``, else ``$env_var``, else ``defaults``."""
    if base_url is None:
        from_env = os.environ.get(env_var, "").split()
        if not from_env:
            return defaults
        return tuple(from_env)
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls or not all(isinstance(url, str) and url.strip() for url in urls):
        raise ValueError(
            "base_url must be a URL (a non-empty string) or a list of URLs, got "
            f"{base_url!r}."
        )
    return tuple(url.strip() for url in urls)


def _hash_matches(path, known_hash):
    algorithm, _, expected = known_hash.partition(":")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == expected.lower()


def _import_pooch(dataset):
    try:
        import pooch
        import requests
    except ImportError as exc:
        raise ImportError(
            f"Downloading {dataset} needs the optional dependency 'pooch': "
            "pip install 'skdeepcluster[fetch]' (or pip install pooch)."
        ) from exc
    return pooch, requests


def _has_tqdm():
    return importlib.util.find_spec("tqdm") is not None


@contextlib.contextmanager
def _pooch_log_level(pooch, verbose):
    """Silence pooch's "Downloading ..." messages unless ``verbose``."""
    logger = pooch.get_logger()
    level = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _innermost_message(exc):
    """The message of the innermost wrapped exception, when exceptions wrap a string
    (``ChunkedEncodingError(ProtocolError("Connection broken: ..."))``)."""
    inner = exc
    while isinstance(inner, BaseException) and inner.args:
        inner = inner.args[0]
    return inner if isinstance(inner, str) else str(exc)


def _describe_failure(url, exc, requests):
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        reason = f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    elif isinstance(exc, requests.exceptions.RequestException):
        reason = ("connection failed or interrupted "
                  f"({_one_line(_innermost_message(exc))})")
    else:  # pooch's ValueError for a hash mismatch, or an unsupported URL
        reason = _one_line(exc)
        if "hash" in reason.lower():
            reason = f"checksum mismatch, the download was deleted ({reason})"
    return f"{url}: {reason}"


def _download(name, data_home, mirrors, *, dataset, env_var, verbose):
    """Download ``name`` from the first mirror that delivers it intact."""
    pooch, requests = _import_pooch(dataset)
    known_hash = _CHECKSUMS[name]
    progressbar = bool(verbose) and _has_tqdm()
    failures = []
    with _pooch_log_level(pooch, verbose):
        for base in mirrors:
            url = _join_url(base, name)
            if url.startswith(("http://", "https://")):
                downloader = pooch.HTTPDownloader(progressbar=progressbar,
                                                  timeout=_TIMEOUT)
            else:  # pooch picks its FTP/SFTP/DOI downloader (or rejects the URL)
                downloader = None
            try:
                # pooch downloads to a temporary file in data_home, checks the hash and
                # renames it to `name` only if it matches; else it deletes it.
                pooch.retrieve(url, known_hash=known_hash, fname=name, path=data_home,
                               downloader=downloader, progressbar=progressbar)
            except (requests.exceptions.RequestException, ValueError) as exc:
                failures.append(_describe_failure(url, exc, requests))
                continue
            return os.path.join(data_home, name)
    raise DownloadError(
        f"Could not download {name} ({dataset}) into {data_home!r}: "
        + "; ".join(failures)
        + ". No partial or corrupt download was kept. Check the network connection, "
        f"or point base_url= (or the {env_var} environment variable) to a mirror "
        "holding the same files."
    )


def _fetch_files(names, data_home, base_url, *, dataset, env_var, default_mirrors,
                 download_if_missing, verbose):
    """Return the paths of ``names`` in ``data_home``, downloading the missing ones."""
    mirrors = _mirrors(base_url, env_var, default_mirrors)  # validated even if unused
    paths = [os.path.join(data_home, name) for name in names]
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing and not download_if_missing:
        raise FileNotFoundError(
            f"{dataset} data not found and download_if_missing=False: missing "
            + ", ".join(repr(path) for path in missing)
            + f". Fetch it once with download_if_missing=True (or run 'skdeepcluster "
            f"fetch {dataset.lower()}'), or point data_home to a directory holding "
            "these files."
        )
    for name, path in zip(names, paths):
        if os.path.isfile(path):
            if _hash_matches(path, _CHECKSUMS[name]):
                continue
            if not download_if_missing:
                raise ValueError(
                    f"Corrupt file {path!r}: it does not match the published "
                    f"checksum ({_CHECKSUMS[name]}), so it is damaged or another "
                    "version of the file. Delete it, then fetch again with "
                    "download_if_missing=True."
                )
            # Otherwise it is downloaded again and replaced once the new copy matches.
        _download(name, data_home, mirrors, dataset=dataset, env_var=env_var,
                  verbose=verbose)
    return paths


def _read_libsvm_usps(path):
    """One USPS split from the LIBSVM copy: pixels in [0, 1], labels 0-9."""
    from sklearn.datasets import load_svmlight_file

    try:
        # LIBSVM files index features from 1.
        X, y = load_svmlight_file(path, n_features=256, dtype=np.float64,
                                  zero_based=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(
            f"Corrupt LIBSVM file {path!r}: {_one_line(exc)}"
        ) from exc
    if X.shape[0] == 0:
        raise ValueError(f"Corrupt LIBSVM file {path!r}: no samples.")
    if not (np.all(y == np.round(y)) and y.min() >= 1 and y.max() <= 10):
        raise ValueError(
            f"Unexpected LIBSVM file {path!r}: USPS labels must be the integers 1-10, "
            f"got values in [{y.min()}, {y.max()}]."
        )
    # Entries left out of a LIBSVM row are zeros (the middle of [-1, 1]).
    X = X.toarray()
    if X.min() < -1 - 1e-6 or X.max() > 1 + 1e-6:
        raise ValueError(
            f"Unexpected LIBSVM file {path!r}: USPS pixels must lie in [-1, 1], got "
            f"values in [{X.min()}, {X.max()}]."
        )
    X = np.clip((X + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)
    return X, y.astype(np.int64) - 1


def _write_npz_atomic(path, **arrays):
    """Write an npz archive under a temporary name, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".",
                               prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


# -- public fetchers ---------------------------------------------------------------------
def fetch_mnist(*, data_home=None, subset="all", return_X_y=False,
                download_if_missing=True, base_url=None, verbose=True):
    """Load the MNIST digits, downloading them into ``data_home`` the first time.

    The four original IDX files (``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz``) are downloaded into ``data_home`` and checked
    against their published SHA-256 checksums; a file whose checksum does not match
    is deleted and never loaded. Later calls find the files there, check them again
    and do not touch the network; :func:`load_mnist` on the same ``data_home``
    reads them too.

    The sources are tried in order until one delivers an intact file: the copy
    torchvision uses (``https://ossci-datasets.s3.amazonaws.com/mnist/``), the copy
    TensorFlow uses (``https://storage.googleapis.com/cvdf-datasets/mnist/``) and
    the original page (``http://yann.lecun.com/exdb/mnist/``). ``base_url`` or the
    ``SKDEEPCLUSTER_MNIST_URL`` environment variable replaces them.

    Downloading needs the optional dependency `pooch
    <https://www.fatiando.org/pooch/>`__ (``pip install "skdeepcluster[fetch]"``);
    reading files already downloaded does not.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Directory where the files are stored (created if needed). If None, see
        :func:`get_data_home`.

    subset : {"train", "test", "all"}, default="all"
        Which split to return. ``"all"`` returns the training samples followed by the
        test samples. All four files are downloaded in any case.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    download_if_missing : bool, default=True
        If False, raise an error instead of downloading files that are not in
        ``data_home`` (for offline use).

    base_url : str or list of str, default=None
        URL(s) of a directory holding the four files, tried in order; the file names
        are appended to it. If None, the ``SKDEEPCLUSTER_MNIST_URL`` environment
        variable (one URL, or several separated by spaces) is used when set, else the
        public sources above.

    verbose : bool, default=True
        Report each download and show a progress bar (on standard error). Nothing is
        printed when the files are already there.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 784), dtype uint8
            Flattened 28x28 images, pixel values in [0, 255] as stored.
        target : ndarray of shape (n_samples,), dtype int64
            Digit labels 0-9.
        train_size : int
            Number of leading rows of ``data`` belonging to the official training
            split (0 when ``subset="test"``).
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        If files are missing and ``download_if_missing=False``; the message names
        them.
    OSError
        If no source delivered an intact file (``DownloadError``, a subclass of
        ``OSError``): the message lists each URL tried and why it failed.
    ImportError
        If a download is needed and pooch is not installed.
    ValueError
        If ``subset`` or ``base_url`` is invalid, or, with
        ``download_if_missing=False``, a file in ``data_home`` is corrupt.

    See Also
    --------
    load_mnist : Read MNIST from local files only.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepcluster.datasets import fetch_mnist
    >>> X, y = fetch_mnist(return_X_y=True)  # doctest: +SKIP
    >>> X = X.astype(np.float32) / 255  # doctest: +SKIP
    >>> X.shape, np.bincount(y)[:3]  # doctest: +SKIP
    ((70000, 784), array([6903, 7877, 6990]))

    Offline, with files downloaded earlier into a given directory:

    >>> test = fetch_mnist(data_home="~/data", subset="test",
    ...                    download_if_missing=False)  # doctest: +SKIP
    >>> test.data.shape  # doctest: +SKIP
    (10000, 784)
    """
    _check_subset(subset)
    data_home = get_data_home(data_home)
    paths = _fetch_files(
        _MNIST_FILES, data_home, base_url, dataset="MNIST", env_var=MNIST_URL_ENV,
        default_mirrors=_MNIST_MIRRORS, download_if_missing=download_if_missing,
        verbose=verbose,
    )
    X, y, train_size = _load_mnist_idx(dict(zip(_MNIST_IDX_FILES, paths)))
    return _select(X, y, train_size, subset, _MNIST_FETCH_DESCR, return_X_y)


def fetch_usps(*, data_home=None, subset="all", return_X_y=False,
               download_if_missing=True, base_url=None, verbose=True):
    """Load the USPS digits, downloading them into ``data_home`` the first time.

    The LIBSVM copy of USPS (``usps.bz2``, 7,291 training images, and
    ``usps.t.bz2``, 2,007 test images, from
    ``https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/``) is
    downloaded into ``data_home`` and checked against its published MD5 checksums; a
    file whose checksum does not match is deleted and never loaded. That copy stores
    pixels in [-1, 1] and labels 1-10; they are returned as :func:`load_usps` returns
    them: float32 pixels in [0, 1] (``(x + 1) / 2``) and labels 0-9. Later calls find
    the files there, check them again and do not touch the network. The converted data
    is also written to ``usps.npz`` in ``data_home`` (unless a file of that name is
    already there), so that :func:`load_usps` finds it.

    ``base_url`` or the ``SKDEEPCLUSTER_USPS_URL`` environment variable replaces the
    source. Downloading needs the optional dependency `pooch
    <https://www.fatiando.org/pooch/>`__ (``pip install "skdeepcluster[fetch]"``);
    reading files already downloaded does not.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Directory where the files are stored (created if needed). If None, see
        :func:`get_data_home`.

    subset : {"train", "test", "all"}, default="all"
        Which split to return. ``"all"`` returns the training samples followed by the
        test samples. Both files are downloaded in any case.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    download_if_missing : bool, default=True
        If False, raise an error instead of downloading files that are not in
        ``data_home`` (for offline use).

    base_url : str or list of str, default=None
        URL(s) of a directory holding ``usps.bz2`` and ``usps.t.bz2``, tried in order;
        the file names are appended to it. If None, the ``SKDEEPCLUSTER_USPS_URL``
        environment variable (one URL, or several separated by spaces) is used when
        set, else the LIBSVM page.

    verbose : bool, default=True
        Report each download and show a progress bar (on standard error). Nothing is
        printed when the files are already there.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 256), dtype float32
            Flattened 16x16 images, pixel values in [0, 1].
        target : ndarray of shape (n_samples,), dtype int64
            Digit labels 0-9.
        train_size : int
            Number of leading rows of ``data`` belonging to the official training
            split (0 when ``subset="test"``).
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        If files are missing and ``download_if_missing=False``; the message names
        them.
    OSError
        If no source delivered an intact file (``DownloadError``, a subclass of
        ``OSError``): the message lists each URL tried and why it failed.
    ImportError
        If a download is needed and pooch is not installed.
    ValueError
        If ``subset`` or ``base_url`` is invalid, a file is not in the expected
        format, or, with ``download_if_missing=False``, a file in ``data_home`` is
        corrupt.

    See Also
    --------
    load_usps : Read USPS from a local ``usps.npz`` only.

    Examples
    --------
    >>> from skdeepcluster.datasets import fetch_usps
    >>> usps = fetch_usps()  # doctest: +SKIP
    >>> usps.data.shape, usps.train_size  # doctest: +SKIP
    ((9298, 256), 7291)
    >>> float(usps.data.min()), float(usps.data.max())  # doctest: +SKIP
    (0.0, 1.0)
    """
    _check_subset(subset)
    data_home = get_data_home(data_home)
    train_path, test_path = _fetch_files(
        _USPS_FILES, data_home, base_url, dataset="USPS", env_var=USPS_URL_ENV,
        default_mirrors=_USPS_MIRRORS, download_if_missing=download_if_missing,
        verbose=verbose,
    )
    X_train, y_train = _read_libsvm_usps(train_path)
    X_test, y_test = _read_libsvm_usps(test_path)
    X = np.concatenate([X_train, X_test])
    y = np.concatenate([y_train, y_test])
    train_size = X_train.shape[0]
    npz_path = os.path.join(data_home, "usps.npz")
    if not os.path.exists(npz_path):
        # For load_usps; best effort (a read-only data home is fine for fetching).
        with contextlib.suppress(OSError):
            _write_npz_atomic(npz_path, X=X, y=y, train_size=np.int64(train_size))
    return _select(X, y, train_size, subset, _USPS_FETCH_DESCR, return_X_y)

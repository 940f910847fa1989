"""Loaders for the benchmark image datasets used in deep clustering.

The loaders never download anything: the files must already be present in the
data home directory (see :func:`get_data_home`). The fetchers (``_fetch.py``)
download them there.
"""

import gzip
import os
import zipfile

import numpy as np
from sklearn.utils import Bunch

_ENV_VAR = "SKDEEPCLUSTER_DATA"
_DEFAULT_DIRNAME = "skdeepcluster_data"
_VALID_SUBSETS = ("train", "test", "all")

_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801

_MNIST_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_MNIST_DESCR = """\
MNIST handwritten digits
------------------------

70,000 grayscale images of handwritten digits 0-9 (60,000 official training
images followed by 10,000 test images), each 28x28 pixels flattened to 784
features. Pixel values are uint8 in [0, 255], returned as stored.

LeCun, Y., Bottou, L., Bengio, Y. and Haffner, P. (1998). Gradient-based
learning applied to document recognition. Proceedings of the IEEE, 86(11).
"""

_USPS_DESCR = """\
USPS handwritten digits
-----------------------

9,298 grayscale images of handwritten digits 0-9 scanned from envelopes by
the U.S. Postal Service (7,291 official training images followed by 2,007
test images), each 16x16 pixels flattened to 256 features. Pixel values are
float32 in [0, 1], returned as stored.

Hull, J. J. (1994). A database for handwritten text recognition research.
IEEE Transactions on Pattern Analysis and Machine Intelligence, 16(5).
"""


def get_data_home(data_home=None):
    """Return the path of the skdeepcluster data directory.

    The directory is resolved, in order of priority, from the ``data_home``
    argument, the ``SKDEEPCLUSTER_DATA`` environment variable, and finally
    ``~/skdeepcluster_data``. A leading ``~`` is expanded to the user's home
    directory. The directory is *not* created.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit data directory. If None, use the ``SKDEEPCLUSTER_DATA``
        environment variable when it is set and non-empty, otherwise
        ``~/skdeepcluster_data``.

    Returns
    -------
    data_home : str
        The path of the data directory. It may not exist.

    Examples
    --------
    >>> import os
    >>> from skdeepcluster.datasets import get_data_home
    >>> get_data_home("/tmp/my_data")
    '/tmp/my_data'
    >>> os.path.basename(get_data_home()) != ""
    True
    """
    if data_home is None:
        data_home = os.environ.get(_ENV_VAR) or os.path.join(
            "~", _DEFAULT_DIRNAME
        )
    if not isinstance(data_home, (str, os.PathLike)):
        raise TypeError(
            f"data_home must be a path (str or os.PathLike) or None, got "
            f"{type(data_home).__name__} {data_home!r}."
        )
    return os.path.expanduser(os.fspath(data_home))


def _check_subset(subset):
    if not isinstance(subset, str) or subset not in _VALID_SUBSETS:
        raise ValueError(
            f"The 'subset' parameter must be one of {list(_VALID_SUBSETS)}; "
            f"got {subset!r}."
        )


#: What numpy raises on an npz file that is truncated, corrupt or not an archive.
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile)


def _unreadable(path, exc):
    return ValueError(f"File {path!r} cannot be read as an npz archive ({exc}); it may "
                      "be truncated or corrupt: delete it and fetch or copy it again.")


def _load_npz(path):
    """Load and validate a ``{X, y, train_size}`` npz file."""
    try:
        f = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(
            f"File {path!r} holds a single array, not an npz archive with keys 'X', "
            "'y' and 'train_size'."
        )
    with f:
        missing = [k for k in ("X", "y", "train_size") if k not in f.files]
        if missing:
            raise ValueError(
                f"File {path!r} is missing the key(s) {missing}; expected an "
                "npz archive with keys 'X', 'y' and 'train_size'."
            )
        try:
            X, y, train_size = f["X"], f["y"], f["train_size"]
        except _READ_ERRORS as exc:
            raise _unreadable(path, exc) from None
    if X.ndim != 2:
        raise ValueError(
            f"File {path!r}: 'X' must be 2-dimensional, got shape {X.shape}."
        )
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"File {path!r}: 'y' must be 1-dimensional with {X.shape[0]} "
            f"entries to match 'X', got shape {y.shape}."
        )
    fractional = y.dtype.kind == "f" and not np.all(y == np.round(y))
    if y.dtype.kind not in "iuf" or fractional:
        raise ValueError(
            f"File {path!r}: 'y' must hold integer class labels, got dtype {y.dtype}"
            + (" with fractional values." if fractional else ".")
        )
    if train_size.size != 1 or not np.issubdtype(train_size.dtype, np.integer):
        raise ValueError(
            f"File {path!r}: 'train_size' must be an integer scalar, got "
            f"{train_size!r}."
        )
    train_size = int(train_size.reshape(()))
    if not 0 <= train_size <= X.shape[0]:
        raise ValueError(
            f"File {path!r}: 'train_size' must be in [0, {X.shape[0]}], got "
            f"{train_size}."
        )
    return X, y.astype(np.int64, copy=False), train_size


def _read_idx(path, expected_magic):
    """Parse an IDX file (optionally gzip-compressed) into a numpy array.

    Only the unsigned-byte IDX formats used by MNIST are supported: labels
    (magic ``0x00000801``, shape ``(n,)``) and images (magic ``0x00000803``,
    shape ``(n, rows, cols)``).
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"Could not read IDX file {path!r}: {exc}") from exc

    ndim = expected_magic & 0xFF
    header_size = 4 * (1 + ndim)
    if len(raw) < 4:
        raise ValueError(
            f"Corrupt IDX file {path!r}: file too short to contain a header."
        )
    magic = int(np.frombuffer(raw, dtype=">u4", count=1)[0])
    if magic != expected_magic:
        raise ValueError(
            f"Corrupt IDX file {path!r}: bad magic number 0x{magic:08X}, "
            f"expected 0x{expected_magic:08X}."
        )
    if len(raw) < header_size:
        raise ValueError(
            f"Corrupt IDX file {path!r}: header truncated ({len(raw)} bytes, "
            f"expected at least {header_size})."
        )
    shape = tuple(
        int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    )
    n_values = int(np.prod(shape, dtype=np.int64))
    n_bytes = len(raw) - header_size
    if n_bytes != n_values:
        raise ValueError(
            f"Corrupt IDX file {path!r}: header announces shape {shape} "
            f"({n_values} bytes of data) but the file contains {n_bytes} "
            "bytes of data."
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
    return data.reshape(shape).copy()


def _find_mnist_idx(data_home):
    """Return a dict of IDX paths if all four files exist, else None."""
    paths = {}
    for key, name in _MNIST_IDX_FILES.items():
        for candidate in (name + ".gz", name):
            path = os.path.join(data_home, candidate)
            if os.path.isfile(path):
                paths[key] = path
                break
        else:
            return None
    return paths


def _load_mnist_idx(paths):
    parts = []
    for split in ("train", "test"):
        images = _read_idx(paths[f"{split}_images"], _IDX_IMAGES_MAGIC)
        labels = _read_idx(paths[f"{split}_labels"], _IDX_LABELS_MAGIC)
        if images.shape[1:] != (28, 28):
            raise ValueError(
                f"Corrupt IDX file {paths[f'{split}_images']!r}: expected "
                f"28x28 images, got {images.shape[1]}x{images.shape[2]}."
            )
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"MNIST {split} split is inconsistent: "
                f"{paths[f'{split}_images']!r} holds {images.shape[0]} images "
                f"but {paths[f'{split}_labels']!r} holds {labels.shape[0]} "
                "labels."
            )
        parts.append((images.reshape(images.shape[0], -1), labels))
    (X_train, y_train), (X_test, y_test) = parts
    X = np.concatenate([X_train, X_test], axis=0)
    y = np.concatenate([y_train, y_test]).astype(np.int64)
    return X, y, X_train.shape[0]


def _select(X, y, train_size, subset, descr, return_X_y):
    if subset == "train":
        X, y = X[:train_size], y[:train_size]
    elif subset == "test":
        X, y = X[train_size:], y[train_size:]
        train_size = 0
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, train_size=train_size, DESCR=descr)


def _not_found(dataset, data_home, looked_for, how_to):
    listing = "\n".join(f"  - {name}" for name in looked_for)
    return FileNotFoundError(
        f"{dataset} data not found in directory {data_home!r}. "
        f"Looked for:\n{listing}\n"
        f"To fix this, {how_to} in that directory, or pass "
        f"data_home='/path/to/dir' to point to the directory holding them, "
        f"or set the {_ENV_VAR} environment variable. load_{dataset.lower()} never "
        f"downloads data; fetch_{dataset.lower()}() downloads the public files into "
        "the data directory."
    )


def load_mnist(*, data_home=None, subset="all", return_X_y=False):
    """Load the MNIST handwritten digits dataset from local files.

    Nothing is downloaded (:func:`fetch_mnist` downloads the files into
    ``data_home`` first). The following files are searched for in
    ``data_home``, in this order:

    1. ``mnist.npz``: an npz archive with keys ``X`` (n_samples, 784),
       ``y`` (n_samples,) and ``train_size`` (integer scalar); rows
       ``[:train_size]`` form the official training split, the rest the
       test split.
    2. The four original IDX files ``train-images-idx3-ubyte.gz``,
       ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
       ``t10k-labels-idx1-ubyte.gz`` (uncompressed copies without the
       ``.gz`` suffix are accepted too).

    =================   ==============
    Classes                         10
    Samples total                70000
    Samples train                60000
    Samples test                 10000
    Dimensionality                 784
    Features            uint8, 0 - 255
    =================   ==============

    Pixel values are returned as stored (uint8 in [0, 255]); scale them
    yourself, e.g. ``X = X.astype(np.float32) / 255``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Directory holding the data files. If None, see
        :func:`get_data_home`.

    subset : {"train", "test", "all"}, default="all"
        Which split to return. ``"all"`` returns the training samples
        followed by the test samples.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 784), dtype uint8
            Flattened 28x28 images.
        target : ndarray of shape (n_samples,), dtype int64
            Digit labels 0-9.
        train_size : int
            Number of leading rows of ``data`` belonging to the official
            training split (0 when ``subset="test"``).
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        If neither ``mnist.npz`` nor the four IDX files are found.
    ValueError
        If ``subset`` is invalid or a data file is corrupt.

    See Also
    --------
    fetch_mnist : Download the IDX files into ``data_home`` first, then load them.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepcluster.datasets import load_mnist
    >>> X, y = load_mnist(return_X_y=True)  # doctest: +SKIP
    >>> X = X.astype(np.float32) / 255  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (70000, 784)
    """
    _check_subset(subset)
    data_home = get_data_home(data_home)
    npz_path = os.path.join(data_home, "mnist.npz")
    if os.path.isfile(npz_path):
        X, y, train_size = _load_npz(npz_path)
    else:
        idx_paths = _find_mnist_idx(data_home)
        if idx_paths is None:
            looked_for = ["mnist.npz"] + [
                f"{name}.gz (or {name})" for name in _MNIST_IDX_FILES.values()
            ]
            raise _not_found(
                "MNIST",
                data_home,
                looked_for,
                "put 'mnist.npz' (keys X, y, train_size) or the four "
                "original MNIST IDX files",
            )
        X, y, train_size = _load_mnist_idx(idx_paths)
    return _select(X, y, train_size, subset, _MNIST_DESCR, return_X_y)


def load_usps(*, data_home=None, subset="all", return_X_y=False):
    """Load the USPS handwritten digits dataset from a local file.

    Nothing is downloaded (:func:`fetch_usps` downloads the data and writes
    ``usps.npz`` into ``data_home``). The file ``usps.npz`` is looked for in
    ``data_home``: an npz archive with keys ``X`` (n_samples, 256), ``y``
    (n_samples,) and ``train_size`` (integer scalar); rows
    ``[:train_size]`` form the official training split, the rest the test
    split.

    =================   =================
    Classes                            10
    Samples total                    9298
    Samples train                    7291
    Samples test                     2007
    Dimensionality                    256
    Features            float32, 0.0 - 1.0
    =================   =================

    Values are returned as stored (float32 in [0, 1] for the standard file).
    If your copy stores uint8 pixels, scale them yourself, e.g.
    ``X = X.astype(np.float32) / 255``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Directory holding ``usps.npz``. If None, see :func:`get_data_home`.

    subset : {"train", "test", "all"}, default="all"
        Which split to return. ``"all"`` returns the training samples
        followed by the test samples.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 256)
            Flattened 16x16 images.
        target : ndarray of shape (n_samples,), dtype int64
            Digit labels 0-9.
        train_size : int
            Number of leading rows of ``data`` belonging to the official
            training split (0 when ``subset="test"``).
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        If ``usps.npz`` is not found.
    ValueError
        If ``subset`` is invalid or the data file is malformed.

    See Also
    --------
    fetch_usps : Download USPS into ``data_home`` first (writing ``usps.npz``), then
        load it.

    Examples
    --------
    >>> from skdeepcluster.datasets import load_usps
    >>> usps = load_usps(subset="train")  # doctest: +SKIP
    >>> usps.data.shape  # doctest: +SKIP
    (7291, 256)
    """
    _check_subset(subset)
    data_home = get_data_home(data_home)
    npz_path = os.path.join(data_home, "usps.npz")
    if not os.path.isfile(npz_path):
        raise _not_found(
            "USPS",
            data_home,
            ["usps.npz"],
            "put 'usps.npz' (keys X, y, train_size)",
        )
    X, y, train_size = _load_npz(npz_path)
    return _select(X, y, train_size, subset, _USPS_DESCR, return_X_y)

"""Checkpoint files of long fits, so that a fit stopped by a crash or Ctrl-C resumes.

A fit with ``checkpoint=<directory>`` keeps one file in that directory, named after a
fingerprint of its training data and parameters: ``<Estimator>-<fingerprint>.ckpt``.
Fits of other data or other parameters (the clones of a ``GridSearchCV``, say) have
other fingerprints, hence other files, and never read each other's state. The file holds
the latest state of the fit, replaced at each stage (pretraining epochs, end of
pretraining, initial clustering, clustering-phase epochs, finished fit) by writing a
temporary file in the same directory and renaming it over the previous one, so that a
process killed while writing leaves the previous state intact.

What a stage stores is up to the estimator (see :func:`skdeepcluster._training.train`
for the training state); this module only names, fingerprints, writes and reads files.
"""

import contextlib
import hashlib
import os
import pickle
import tempfile
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator

#: Parameters that do not change what a fit computes: left out of the fingerprint, so
#: that a fit resumes with another checkpoint frequency, verbosity, callbacks or cache.
UNFINGERPRINTED = frozenset({"checkpoint", "checkpoint_every", "verbose", "callbacks",
                             "memory"})

#: The stages a checkpoint file can hold, in the order a fit goes through them.
STAGES = ("pretraining", "pretrained", "clustering", "finished")

SUFFIX = ".ckpt"

_FORMAT = "skdeepcluster-checkpoint"
#: 2: the data digest covers every row (version 1 sampled 1,024 rows above 16 MiB).
_VERSION = 2

#: The data are read for :func:`data_digest` in blocks of about this many bytes.
_HASH_BLOCK_BYTES = 64 * 2**20


def _tensor_bytes(t):
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.contiguous().numpy().tobytes()


def _digest(*parts):
    """SHA-256 of ``parts`` (bytes, or anything by its ``repr``), each length-prefixed."""
    h = hashlib.sha256()
    for part in parts:
        part = part if isinstance(part, bytes) else repr(part).encode()
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _fitted_digest(estimator):
    """A digest of a fitted estimator's learned state (None when it is not fitted)."""
    net = vars(estimator).get("net_")
    if net is not None:  # the package's estimators: the trained weights
        state = net.module_.state_dict()
        return _digest(*(part for key in sorted(state)
                         for part in (key, _tensor_bytes(state[key]))))
    fitted = {k: v for k, v in vars(estimator).items()
              if k.endswith("_") and not k.startswith("_")}
    if not fitted:
        return None
    try:
        return _digest(pickle.dumps(sorted(fitted.items()), protocol=4))
    except Exception:  # unpicklable state: a fingerprint no other fit can share
        return _digest(os.urandom(16))


def _canonical(value):
    """A representation of a parameter value that equal settings share, for hashing."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, (tuple, list)):  # hidden_dims=(16,) and [16] are one setting
        return tuple(_canonical(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, torch.device):
        return ("torch.device", str(value))
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, cached = value.get_state(legacy=True)
        return ("RandomState", _digest(name, keys.tobytes(), pos, has_gauss, cached))
    if isinstance(value, BaseEstimator):
        params = value.get_params(deep=False)
        return (type(value).__module__, type(value).__qualname__,
                tuple(sorted((k, _canonical(v)) for k, v in params.items()
                             if k not in UNFINGERPRINTED)),
                _fitted_digest(value))
    return ("repr", type(value).__qualname__, repr(value))


def data_hasher(shape, stored_dtype, out_of_core):
    """The SHA-256 object that :func:`data_digest` feeds the rows of data of this
    ``shape`` and stored dtype to, in order (in blocks of any size: the digest does not
    depend on them), so that a pass over the data made for another reason (the
    validation of out-of-core data) can compute the digest on the way."""
    head = (tuple(shape), np.dtype(stored_dtype).str) + (("out-of-core",) if out_of_core
                                                        else ())
    return hashlib.sha256(repr(head).encode())


def data_digest(X):
    """A digest of the training data: shape, dtype and every value.

    In-memory data is hashed in blocks of about 64 MiB, at the speed of SHA-256 (0.5-2
    GB/s depending on the CPU). Out-of-core data (an
    :class:`~skdeepcluster._data.ArraySource`) keeps the digest that the validation pass
    of ``fit`` computed while it read every block anyway; one that was not validated is
    read once, block by block along its chunks, and keeps the digest. A change of any
    value gives another digest.
    """
    from ._data import ArraySource

    if isinstance(X, ArraySource) and X.in_memory:
        X = X.array  # its scaling is a parameter, in the fingerprint
    out_of_core = isinstance(X, ArraySource)
    if out_of_core and X.digest is not None:
        return X.digest
    source = (X.replace(scale=None, check_finite=False) if out_of_core  # rows as stored
              else ArraySource(np.asarray(X), dtype=np.float64, in_memory=True))
    h = data_hasher(source.shape, source.stored_dtype, out_of_core)
    for start, stop in source.blocks(_HASH_BLOCK_BYTES):
        h.update(np.ascontiguousarray(source.read(start, stop)))
    if out_of_core:
        X.digest = h.hexdigest()
    return h.hexdigest()


def fingerprint(estimator, X):
    """The fingerprint of fitting ``estimator`` on ``X`` (24 hexadecimal digits).

    It covers the class, every parameter except those in :data:`UNFINGERPRINTED`
    (estimator-valued parameters by their own parameters and, when fitted, their
    learned weights; a ``RandomState`` by its state) and :func:`data_digest` of ``X``.
    """
    return _digest(_FORMAT, _VERSION, _canonical(estimator), data_digest(X))[:24]


class Checkpoint:
    """The checkpoint file of one fit.

    Parameters
    ----------
    path : str
        The file.
    every : int
        Epochs between two periodic writes (``checkpoint_every``).
    fingerprint : str
        The fit's fingerprint (also stored in the file, and checked on reading).
    device : torch.device
        Where tensors read from the file are put.

    Attributes
    ----------
    loaded : dict or None
        What the file held when the fit started (``stage``, ``payload``, ``seed``), or
        None when there was no file.
    seed : int or None
        The fit's seed, stored with every write.
    """

    def __init__(self, path, every, fingerprint, device):
        self.path = path
        self.every = every
        self.fingerprint = fingerprint
        self.device = device
        self.loaded = None
        self.seed = None

    @classmethod
    def open(cls, estimator, X, device):
        """The checkpoint of fitting ``estimator`` on validated ``X``, with the state
        its file holds (None when ``estimator.checkpoint`` is None).

        Creates the directory when it does not exist. Raises ``ValueError`` naming
        the file when it exists but cannot be read, and naming ``checkpoint`` when it
        is, or lies under, a path to something other than a directory.
        """
        directory = estimator.checkpoint
        if directory is None:
            return None
        directory = os.fspath(directory)
        try:
            os.makedirs(directory, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # it, or a folder above it, is a file
            raise ValueError(
                f"checkpoint={directory!r} is not a directory and cannot be made one (it, "
                f"or a folder above it, is a file): checkpoint names a directory (created "
                f"if missing) in which the fit keeps its state file. Pass a directory, or "
                f"None."
            ) from None
        fp = fingerprint(estimator, X)
        path = os.path.join(directory, f"{type(estimator).__name__}-{fp}{SUFFIX}")
        checkpoint = cls(path, estimator.checkpoint_every, fp, device)
        checkpoint.loaded = checkpoint._read()
        if checkpoint.loaded is not None:
            checkpoint.seed = checkpoint.loaded["seed"]
        return checkpoint

    def _read(self):
        try:
            f = open(self.path, "rb")  # other errors (permissions...) name the file
        except FileNotFoundError:
            return None
        with f:
            try:
                state = torch.load(f, map_location=self.device, weights_only=False)
            except Exception as exc:  # what reading a damaged file raises, of any type
                detail = next(iter(str(exc).splitlines()), "")
                raise ValueError(
                    f"The checkpoint file {self.path!r} cannot be read: it is truncated "
                    f"or corrupt, or was written by another version of skdeepcluster "
                    f"({type(exc).__name__}: {detail}). Delete it to fit from the start."
                ) from None
        if not (isinstance(state, dict) and state.get("format") == _FORMAT):
            raise ValueError(
                f"The checkpoint file {self.path!r} is not an skdeepcluster checkpoint. "
                f"Delete it to fit from the start."
            )
        if state.get("version") != _VERSION:
            raise ValueError(
                f"The checkpoint file {self.path!r} was written in format version "
                f"{state.get('version')!r}, which this version of skdeepcluster does not "
                f"read (it writes version {_VERSION}). Delete it to fit from the start."
            )
        if state.get("fingerprint") != self.fingerprint or state.get("stage") not in STAGES:
            raise ValueError(
                f"The checkpoint file {self.path!r} holds the state of another fit "
                f"(it was renamed or copied). Delete it to fit from the start."
            )
        return state

    def resume(self, stage):
        """The payload the file held at the start of the fit if it was at ``stage``."""
        if self.loaded is not None and self.loaded["stage"] == stage:
            return self.loaded["payload"]
        return None

    def due(self, epoch):
        """Whether ``epoch`` (counted from 1) ends with a periodic write."""
        return epoch % self.every == 0

    def save(self, stage, payload):
        """Replace the file's content by ``payload`` at ``stage``, atomically."""
        state = {"format": _FORMAT, "version": _VERSION, "fingerprint": self.fingerprint,
                 "seed": self.seed, "stage": stage, "payload": payload}
        directory, name = os.path.split(self.path)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def resumed_from(self):
        """Where the fit resumed: None, or ``{"path", "stage", "epoch"}``."""
        if self.loaded is None:
            return None
        payload = self.loaded["payload"]
        return {"path": self.path, "stage": self.loaded["stage"],
                "epoch": int(payload.get("epoch", 0))}

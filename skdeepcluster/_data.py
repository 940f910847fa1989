"""Data sources: in-memory arrays and arrays larger than memory, read batch by batch.

In-memory input (NumPy arrays, lists, DataFrames) is validated by scikit-learn and
trained on as one tensor (see :mod:`._training`). Out-of-core input -- a
:class:`numpy.memmap`, an :class:`h5py.Dataset`, a ``zarr`` array or a Dask array -- is
never converted as a whole: an :class:`ArraySource` reads rows from the array as it is
stored, in its own dtype, and casts (and scales, see ``input_scale``) each batch to the
computation's floating dtype on the device. Everything here depends on the array only
through ``shape``, ``dtype`` and row slicing, plus its chunking along the rows.

Validation streams too (:func:`validate_out_of_core`): shape, feature count and number
of samples from the array's metadata, finite values and the range of the data in one
pass over row blocks at fit; at inference the finite check runs on each block as it is
read.

Shuffling. A memory map is read by random (sorted) row indices per batch: its pages
are cached by the operating system. Chunked stores (h5py, zarr, Dask) are read whole
chunk by whole chunk: a pass takes the chunks in a random order, groups them into
buffers of at least :data:`SHUFFLE_BUFFER_CHUNKS` chunks and
:data:`SHUFFLE_BUFFER_BYTES` bytes, and shuffles the rows within each buffer
(:meth:`ArraySource.arrange`), so that each chunk is read once per pass. Data that fits
in one buffer is shuffled as in memory (one permutation of all rows), so that small
stores give exactly the batches, hence the results, of the same data in memory.
"""

import sys
import warnings
from collections import OrderedDict

import numpy as np
import torch

#: Rows of a chunked store are shuffled within buffers of at least this many chunks...
SHUFFLE_BUFFER_CHUNKS = 4
#: ... and at least this many bytes (as stored); the reader keeps about two buffers.
SHUFFLE_BUFFER_BYTES = 64 * 2**20
#: Rows per block of the validation pass are about this many bytes (as stored).
VALIDATION_BLOCK_BYTES = 64 * 2**20
#: h5py datasets stored contiguously (no chunks) are read in blocks of this many bytes.
_CONTIGUOUS_BLOCK_BYTES = 2**20

#: Stored dtypes that torch casts to float32 exactly; other integer dtypes go through
#: float64 (as scikit-learn's validation converts them) so that every path rounds alike.
_EXACT_IN_FLOAT32 = {np.dtype(t) for t in (np.bool_, np.int8, np.uint8, np.int16,
                                           np.float16, np.float32, np.float64)}
_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _store_kind(X):
    """``"memmap"``, ``"h5py"``, ``"zarr"``, ``"dask"`` or None (not out of core).

    Only modules already imported are looked at: an array of a library that was never
    imported cannot be one of its arrays.
    """
    if isinstance(X, np.memmap):
        return "memmap"
    h5py = sys.modules.get("h5py")
    if h5py is not None and isinstance(X, h5py.Dataset):
        return "h5py"
    zarr = sys.modules.get("zarr")
    if zarr is not None and isinstance(X, getattr(zarr, "Array", ())):
        return "zarr"
    dask_array = sys.modules.get("dask.array")
    if dask_array is not None and isinstance(X, dask_array.Array):
        return "dask"
    return None


def is_out_of_core(X):
    """Whether ``X`` is read batch by batch: a :class:`numpy.memmap`, an h5py dataset, a
    zarr array, a Dask array (or an :class:`ArraySource` of one)."""
    if isinstance(X, ArraySource):
        return not X.in_memory
    return _store_kind(X) is not None


def _chunk_bounds(X, kind):
    """Row boundaries of the chunks of a chunked store (None for a memory map)."""
    n = X.shape[0]
    if kind == "memmap":
        return None
    if kind == "dask":
        sizes = np.asarray(X.chunks[0], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(sizes)])
    if kind == "zarr":
        rows = (getattr(X, "shards", None) or X.chunks)[0]
    elif kind == "h5py" and X.chunks is not None:
        rows = X.chunks[0]
    else:  # an h5py dataset stored contiguously: blocks of about 1 MiB
        rows = _CONTIGUOUS_BLOCK_BYTES // max(1, X.shape[1] * np.dtype(X.dtype).itemsize)
    rows = max(1, int(rows))
    return np.append(np.arange(0, n, rows, dtype=np.int64), n)


def _not_picklable(fingerprint):
    raise TypeError(f"An ArraySource ({fingerprint}) cannot be unpickled.")


class ArraySource:
    """Rows of a 2-D array, read on demand and cast per batch.

    Parameters
    ----------
    array : array-like of shape (n_samples, n_features)
        A validated in-memory array (``in_memory=True``) or an out-of-core store.
    dtype : numpy dtype
        The floating dtype of computations on this data: what scikit-learn's validation
        would have converted it to (float32 stays float32, anything else is float64).
    scale : float or None
        Every value is multiplied by it after the cast (``input_scale``).
    in_memory : bool
        ``array`` is an in-memory array (only its scaling makes it a source).
    check_finite : bool
        Check every block as it is read (inference: no separate validation pass).
    """

    def __init__(self, array, *, dtype, scale=None, in_memory=False, check_finite=False,
                 raw_range=None, digest=None):
        self.array = array
        self.dtype = np.dtype(dtype)
        self.scale = scale
        self.in_memory = in_memory
        self.check_finite = check_finite
        self.shape = tuple(int(s) for s in array.shape)
        self.kind = "memory" if in_memory else _store_kind(array)
        self.chunk_bounds = None if in_memory else _chunk_bounds(array, self.kind)
        self._raw_range = raw_range  # (min, max) as stored, from the validation pass
        #: The stored values' digest (``_checkpoint.data_digest``), from the same pass.
        self.digest = digest
        self._row_reader = None  # see rows()

    # -- what code written for arrays and tensors uses --------------------------------
    def __len__(self):
        return self.shape[0]

    @property
    def size(self):
        return self.shape[0] * self.shape[1]

    @property
    def ndim(self):
        return 2

    @property
    def stored_dtype(self):
        return np.dtype(self.array.dtype)

    def replace(self, **changes):
        """A copy with other settings, sharing the array and what validation found."""
        kwargs = dict(dtype=self.dtype, scale=self.scale, in_memory=self.in_memory,
                      check_finite=self.check_finite, raw_range=self._raw_range,
                      digest=self.digest)
        kwargs.update(changes)
        return ArraySource(self.array, **kwargs)

    def __reduce__(self):
        # Pickled only to be hashed (joblib.Memory's cache key): as its fingerprint.
        from ._checkpoint import data_digest

        return _not_picklable, (f"{self.kind} {self.shape} scale={self.scale!r} "
                                f"{data_digest(self)}",)

    # -- reading ------------------------------------------------------------------------
    def read(self, start, stop):
        """Rows ``start:stop`` as stored (a NumPy array)."""
        block = self.array[start:stop]
        if self.kind == "dask":
            block = block.compute()
        block = np.asarray(block)
        if self.check_finite:
            self._check_block(block, start)
        return block

    def take(self, idx):
        """Rows ``idx`` (integer array, any order, repeats allowed) as stored."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.chunk_bounds is not None:
            return ChunkReader(self, cache_bytes=0).take(idx)
        rows, inverse = np.unique(idx, return_inverse=True)
        block = np.asarray(self.array[rows])  # sorted reads
        if self.check_finite:
            self._check_block(block, None)
        return block[inverse]

    def _check_block(self, block, start):
        """Raise a ``ValueError`` naming the first non-finite row of ``block``, whose
        first row is row ``start`` of the data (None: rows taken by index)."""
        if block.dtype.kind not in "fc" or np.isfinite(block).all():
            return
        bad = np.flatnonzero(~np.isfinite(block.reshape(len(block), -1)).all(axis=1))
        where = ("" if start is None else
                 f" (row {start + bad[0]}" + (f" and {len(bad) - 1} more in rows {start} to "
                                              f"{start + len(block) - 1}" if len(bad) > 1
                                              else "") + ")")
        raise ValueError(
            f"Input X contains NaN or infinity{where}; out-of-core input is checked "
            f"block by block as it is read. Remove or impute the non-finite values."
        )

    def to_tensor(self, block, device, dtype=None):
        """A block as stored -> a tensor of ``dtype`` (default: :attr:`dtype`) on
        ``device``, multiplied by :attr:`scale`."""
        dtype = self.dtype if dtype is None else dtype
        if not isinstance(dtype, torch.dtype):
            dtype = _TORCH_DTYPES[np.dtype(dtype)]
        if block.dtype not in _EXACT_IN_FLOAT32:
            block = block.astype(np.float64)
        with warnings.catch_warnings():  # read-only blocks (memory maps): never written
            warnings.filterwarnings("ignore", message=".*non-writable.*")
            stored = torch.from_numpy(np.ascontiguousarray(block))
        t = stored.to(device).to(dtype)
        if self.scale is None:
            return t
        # In place when the cast made a copy (one temporary less per block); never on
        # the caller's array.
        return t.mul_(self.scale) if t.data_ptr() != stored.data_ptr() else t * self.scale

    def rows(self, start, stop, device, dtype=None):
        """Rows ``start:stop`` as a tensor (see :meth:`to_tensor`).

        A chunked store is read through a cache of two chunks, so that a pass in
        order (inference) reads every chunk once whatever the row blocks.
        """
        stop = min(stop, len(self))
        if self.chunk_bounds is None:
            block = self.read(start, stop)
        else:
            if self._row_reader is None:
                self._row_reader = ChunkReader(self, cache_bytes=2 * self._chunk_bytes())
            block = self._row_reader.take(np.arange(start, stop, dtype=np.int64))
        return self.to_tensor(block, device, dtype)

    def _chunk_bytes(self):
        """Bytes (as stored) of the largest chunk."""
        row_bytes = self.shape[1] * self.stored_dtype.itemsize
        return int(np.diff(self.chunk_bounds).max(initial=1)) * row_bytes

    def tensor(self, device, dtype=None):
        """The whole (in-memory) data as one tensor, cast and scaled."""
        if not self.in_memory:
            raise RuntimeError("only in-memory data is turned into one tensor")
        from ._training import as_tensor

        t = as_tensor(self.array, device, _TORCH_DTYPES[np.dtype(dtype or self.dtype)])
        if self.scale is None:
            return t
        # In place when the conversion copied; never on the caller's array.
        copied = t.data_ptr() != self.array.__array_interface__["data"][0]
        return t.mul_(self.scale) if copied else t * self.scale

    # -- range of the data (the "auto" choices) ------------------------------------------
    def blocks(self, block_bytes=None):
        """``(start, stop)`` of row blocks of about ``block_bytes`` (default:
        :data:`VALIDATION_BLOCK_BYTES`), aligned on chunks."""
        block_bytes = VALIDATION_BLOCK_BYTES if block_bytes is None else block_bytes
        n = len(self)
        row_bytes = max(1, self.shape[1] * self.stored_dtype.itemsize)
        target = max(1, block_bytes // row_bytes)
        if self.chunk_bounds is None:
            edges = list(range(0, n, target)) + [n]
        else:
            edges, last = [0], 0
            for b in self.chunk_bounds[1:]:
                if b - last >= target or b == n:
                    edges.append(int(b))
                    last = b
        return list(zip(edges[:-1], edges[1:]))

    def _stored_range(self):
        if self._raw_range is None:  # in-memory, or not validated by a full pass
            if self.in_memory:
                self._raw_range = (self.array.min(), self.array.max())
            else:
                lo = hi = None
                for start, stop in self.blocks():
                    block = self.read(start, stop)
                    lo = block.min() if lo is None else min(lo, block.min())
                    hi = block.max() if hi is None else max(hi, block.max())
                self._raw_range = (lo, hi)
        return self._raw_range

    def _scaled_range(self):
        """Smallest and largest value the networks see (training in float32,
        inference in :attr:`dtype`), after casting and scaling."""
        lo, hi = self._stored_range()
        ends = np.array([[lo], [hi]], dtype=self.stored_dtype)
        seen = [self.to_tensor(ends, "cpu", dtype).to(torch.float64)
                for dtype in {np.dtype(np.float32), self.dtype}]
        return (min(float(t[0, 0]) for t in seen), max(float(t[1, 0]) for t in seen))

    def min(self):
        return self._scaled_range()[0]

    def max(self):
        return self._scaled_range()[1]

    # -- shuffling ----------------------------------------------------------------------
    def buffer_rows(self):
        """Rows of one shuffle buffer (None: random access, no buffers)."""
        if self.chunk_bounds is None:
            return None
        row_bytes = max(1, self.shape[1] * self.stored_dtype.itemsize)
        largest = int(np.diff(self.chunk_bounds).max(initial=1))
        return max(SHUFFLE_BUFFER_CHUNKS * largest, SHUFFLE_BUFFER_BYTES // row_bytes)

    def arrange(self, order, generator):
        """``order`` (a random sequence of row indices: a permutation, or DeepCluster's
        uniform draw) rearranged for chunk-by-chunk reading.

        The chunks are put in a random order (drawn from ``generator``) and grouped
        into buffers of :meth:`buffer_rows` rows; the rows of ``order`` are then
        stably sorted by buffer, so they come buffer after buffer, each buffer's rows in
        the random order ``order`` gave them. Unchanged (and no random number drawn)
        for a memory map, and when the data fits in one buffer.
        """
        per_buffer = self.buffer_rows()
        if per_buffer is None or len(self) <= per_buffer:
            return order
        sizes = np.diff(self.chunk_bounds)
        chunk_order = torch.randperm(len(sizes), generator=generator).numpy()
        buffer_of_chunk = np.empty(len(sizes), dtype=np.int64)
        buffer, filled = 0, 0
        for c in chunk_order:
            if filled >= per_buffer:
                buffer, filled = buffer + 1, 0
            buffer_of_chunk[c] = buffer
            filled += sizes[c]
        idx = order.numpy()
        chunk = np.searchsorted(self.chunk_bounds, idx, side="right") - 1
        return order[torch.from_numpy(np.argsort(buffer_of_chunk[chunk], kind="stable"))]

    def reader(self):
        """What a training stream reads its batches with (see :meth:`arrange`)."""
        if self.chunk_bounds is None:
            return self
        row_bytes = max(1, self.shape[1] * self.stored_dtype.itemsize)
        return ChunkReader(self, cache_bytes=2 * self.buffer_rows() * row_bytes
                           + 2 * self._chunk_bytes())


class ChunkReader:
    """Rows of a chunked store, read whole chunk by whole chunk through a cache.

    The cache keeps the most recently used chunks up to ``cache_bytes`` (as stored):
    with the order of :meth:`ArraySource.arrange` every chunk is read once per pass.
    """

    def __init__(self, source, cache_bytes):
        self.source, self.cache_bytes = source, cache_bytes
        self._cache = OrderedDict()
        self._bytes = 0

    def _chunk(self, c):
        block = self._cache.get(c)
        if block is not None:
            self._cache.move_to_end(c)
            return block
        bounds = self.source.chunk_bounds
        block = self.source.read(int(bounds[c]), int(bounds[c + 1]))
        self._cache[c] = block
        self._bytes += block.nbytes
        while self._bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= old.nbytes
        return block

    def take(self, idx):
        bounds = self.source.chunk_bounds
        chunk = np.searchsorted(bounds, idx, side="right") - 1
        out = np.empty((len(idx), self.source.shape[1]), dtype=self.source.stored_dtype)
        blocks = {}
        for c in np.unique(chunk):  # all the batch's chunks, before any is evicted
            blocks[c] = self._chunk(int(c))
        for c, block in blocks.items():
            pos = np.flatnonzero(chunk == c)
            out[pos] = block[idx[pos] - bounds[c]]
        return out


def validate_out_of_core(estimator, X, *, reset, ensure_min_samples=1):
    """Validate out-of-core ``X`` without loading it: an :class:`ArraySource`.

    Checks what ``validate_data`` checks, from the array's metadata (2-D, numeric,
    enough samples, at least one feature, the number of features against
    ``n_features_in_``) and sets ``n_features_in_`` when ``reset``. At fit
    (``reset=True``) one streamed pass over row blocks checks that every value is finite
    and records the range of the data (for the ``"auto"`` choices); otherwise every
    block is checked as it is read.
    """
    from sklearn.utils.validation import _check_feature_names, _check_n_features

    if isinstance(X, ArraySource):  # validated by an enclosing fit (its autoencoder)
        source = X
        X = source.array
    else:
        source = None
    kind = _store_kind(X)
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(
            f"Expected a 2D array, got a {len(shape)}D {kind} array of shape {shape} "
            f"instead. Reshape your data so that each row is one sample."
        )
    if any(not np.isfinite(s) for s in shape):
        raise ValueError(
            f"X is a Dask array of unknown shape {shape}; call "
            f"X.compute_chunk_sizes() first."
        )
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "biuf":
        raise ValueError(
            f"X has dtype {dtype}; out-of-core input must be numeric (boolean, integer "
            f"or floating point)."
        )
    if shape[0] < ensure_min_samples:
        raise ValueError(
            f"Found array with {shape[0]} sample(s) (shape={shape}) while a minimum of "
            f"{ensure_min_samples} is required."
        )
    if shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is "
            f"required."
        )
    _check_n_features(estimator, X, reset=reset)
    _check_feature_names(estimator, X, reset=reset)
    if source is not None:
        return source
    compute = np.float32 if dtype == np.float32 else np.float64
    source = ArraySource(X, dtype=compute, check_finite=not reset)
    if reset:  # one pass: finite values, the range and the digest, block by block
        from ._checkpoint import data_hasher

        lo = hi = None
        h = data_hasher(shape, dtype, out_of_core=True)
        source.check_finite = True
        for start, stop in source.blocks():
            block = source.read(start, stop)
            lo = block.min() if lo is None else min(lo, block.min())
            hi = block.max() if hi is None else max(hi, block.max())
            h.update(np.ascontiguousarray(block))
        source.check_finite = False
        source._raw_range = (lo, hi)
        source.digest = h.hexdigest()
    return source


def with_scale(X, scale):
    """Validated ``X`` with the per-batch factor ``scale``: ``X`` itself when ``scale``
    is None and ``X`` is in memory (the in-memory path is unchanged)."""
    if isinstance(X, ArraySource):
        return X.replace(scale=scale)
    if scale is None:
        return X
    return ArraySource(X, dtype=X.dtype, scale=scale, in_memory=True)


def unscaled(X):
    """What an enclosing fit passes on to a nested one (its autoencoder's fit, which
    applies its own ``input_scale``): the validated data without the factor."""
    if isinstance(X, ArraySource):
        return X.array if X.in_memory else X.replace(scale=None)
    return X


def training_data(X, device):
    """The data a network trains on: one float32 tensor on ``device`` for in-memory
    data (scaled), the source itself (read and cast per batch) for out-of-core data."""
    from ._training import TRAIN_DTYPE, as_tensor

    if isinstance(X, ArraySource):
        if X.in_memory:
            return X.tensor(device, np.float32)
        return TrainingView(X.replace(dtype=np.float32), device)
    return as_tensor(X, device, TRAIN_DTYPE)


class TrainingView(ArraySource):
    """An out-of-core source as training data: float32 on ``device`` (it stands where an
    in-memory fit has its training tensor, and has a ``device`` as tensors do)."""

    def __init__(self, source, device):
        vars(self).update(vars(source))
        self.device = torch.device(device)

    def replace(self, **changes):
        return TrainingView(super().replace(**changes), self.device)


def take_rows(X, rows):
    """Rows ``rows`` (int64 tensor) of training data ``X`` (tensor or source) as a tensor."""
    if isinstance(X, ArraySource):
        return X.to_tensor(X.take(rows.cpu().numpy()), X.device)
    return X[rows.to(X.device)]

"""Base classes: validation, devices, seeding, the fit skeleton and batched inference."""

import math
import os
from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._checkpoint import Checkpoint
from ._data import is_out_of_core, validate_out_of_core, with_scale
from ._distributed import broadcast_seed, collective_fit, world_size
from ._kmeans import (
    KMEANS_BACKENDS,
    assign_nonempty,
    import_faiss,
    nearest_center,
    resolve_kmeans_backend,
)
from ._progress import fit_progress
from ._training import (
    draw_seed,
    forward_chunks,
    inference_chunk,
    interruptible,
    resolve_device,
    seeded,
    to_numpy,
)

_FIT_DTYPES = [np.float64, np.float32]


_DEVICE = [str, torch.device]


#: Below this many samples the ``"auto"`` settings switch from the papers' MNIST recipe
#: (network d-500-500-2000-10, batch 256, SGD for data in [0, 1]) to the small-data one
#: (d-256-256-512-10, batch 64, Adam): on scikit-learn's digits (1,797 samples) the
#: small-data recipe gave DEC 0.83 against 0.81, with 12 s of pretraining instead of 17.
SMALL_DATA = 5000

#: Hidden widths of the ``"auto"`` network for small data and otherwise.
_HIDDEN_DIMS = {"small": (256, 256, 512), "large": (500, 500, 2000)}

#: Batch size of ``batch_size="auto"`` for small data and otherwise.
_BATCH_SIZE = {"small": 64, "large": 256}


def _size(n_samples):
    return "small" if n_samples < SMALL_DATA else "large"


def resolve_hidden_dims(hidden_dims, n_samples):
    """``hidden_dims="auto"``: (256, 256, 512) below :data:`~skdeepcluster._base.SMALL_DATA` samples, else the
    papers' (500, 500, 2000)."""
    if isinstance(hidden_dims, str) and hidden_dims == "auto":
        return _HIDDEN_DIMS[_size(n_samples)]
    return tuple(hidden_dims)


def resolve_batch_size(batch_size, n_samples):
    """``batch_size="auto"``: 64 below :data:`~skdeepcluster._base.SMALL_DATA` samples (enough gradient steps
    per pass over small data), else 256."""
    if isinstance(batch_size, str) and batch_size == "auto":
        return _BATCH_SIZE[_size(n_samples)]
    return batch_size


#: Gradient steps that ``max_epochs="auto"`` (:class:`AutoEncoder`) and
#: ``pretrain_epochs="auto"`` (the clusterers) allow the pretraining, in at most
#: :data:`PRETRAIN_MAX_EPOCHS` epochs.
PRETRAIN_STEPS = 14_000

#: Epochs of the ``"auto"`` pretraining length on data too small to reach
#: :data:`PRETRAIN_STEPS` gradient steps sooner.
PRETRAIN_MAX_EPOCHS = 100

#: Gradient steps that ``max_epochs="auto"`` allows a clustering phase (VaDE's, and
#: DEC's and IDEC's when it is not augmented), in at most
#: :data:`CLUSTERING_MAX_EPOCHS` epochs (VaDE's own epoch bound:
#: :data:`~skdeepcluster._vade.VADE_MAX_EPOCHS`): 22 epochs on MNIST-sized data (274
#: steps per epoch at batch size 256). That kept VaDE's whole MNIST fit within about 10
#: minutes on 2 CPU cores; on standardised MNIST (seed 0) IDEC, which had run all 100
#: epochs with the squared-error pretraining (about 890 s), stood at 0.8771 after 16 and
#: 22 epochs with the Huber one and at 0.8773 when it met ``tol`` after 33.
CLUSTERING_STEPS = 6_000

#: Epochs of DEC's and IDEC's plain ``"auto"`` clustering phase on data too small to
#: reach :data:`CLUSTERING_STEPS` gradient steps sooner.
CLUSTERING_MAX_EPOCHS = 100


def epochs_within(max_steps, max_epochs, n_samples, batch_size):
    """``max_epochs`` passes over ``n_samples`` rows, or fewer where that many would
    exceed ``max_steps`` gradient steps of ``batch_size`` samples (large data: each
    epoch is many steps already). The shared rule of every ``"auto"`` training length."""
    steps_per_epoch = math.ceil(n_samples / batch_size)
    return min(max_epochs, math.ceil(max_steps / steps_per_epoch))


def resolve_pretrain_epochs(epochs, n_samples, batch_size):
    """``"auto"``: :data:`PRETRAIN_MAX_EPOCHS` epochs, or fewer where that many would
    exceed :data:`PRETRAIN_STEPS` gradient steps of ``batch_size`` samples."""
    if isinstance(epochs, str) and epochs == "auto":
        return epochs_within(PRETRAIN_STEPS, PRETRAIN_MAX_EPOCHS, n_samples, batch_size)
    return epochs


#: Smallest side of the square images ``image_shape="auto"`` recognises (8 x 8, the
#: size of scikit-learn's digits).
MIN_IMAGE_SIDE = 8


def _is_count(value):
    """Whether ``value`` is an integer and not a bool (which ``Integral`` admits)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_params(estimator):
    """Raise what ``_parameter_constraints`` cannot say, naming the parameter.

    An :class:`~sklearn.utils._param_validation.InvalidParameterError` when an integer
    parameter (an ``Interval`` of ``Integral``) is a bool, which ``Integral`` admits
    (``max_epochs=True`` trained one epoch); when ``hidden_dims`` holds anything but
    positive integers (a width of 0 trained a constant embedding without an error); or
    when ``callbacks`` holds anything but skorch callbacks (instances or classes of
    :class:`skorch.callbacks.Callback`), optionally as ``(name, callback)`` pairs.
    """
    from skorch.callbacks import Callback

    for name, constraints in type(estimator)._parameter_constraints.items():
        value = getattr(estimator, name, None)
        if isinstance(value, bool) and "boolean" not in constraints and any(
                isinstance(c, Interval) and c.type is Integral for c in constraints):
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be an int, "
                f"not a bool; got {value!r}.")
    hidden_dims = getattr(estimator, "hidden_dims", None)
    if not (hidden_dims is None or isinstance(hidden_dims, str)) and not all(
            _is_count(h) and h >= 1 for h in hidden_dims):
        raise InvalidParameterError(
            f"The 'hidden_dims' parameter of {type(estimator).__name__} must hold "
            f"positive integers (the widths of the hidden layers), got {hidden_dims!r}.")

    def is_callback(cb):
        return isinstance(cb, Callback) or (isinstance(cb, type)
                                            and issubclass(cb, Callback))

    for cb in getattr(estimator, "callbacks", None) or ():
        if not (is_callback(cb) or (isinstance(cb, tuple) and len(cb) == 2
                                    and isinstance(cb[0], str) and is_callback(cb[1]))):
            raise InvalidParameterError(
                f"The 'callbacks' parameter of {type(estimator).__name__} must hold "
                f"skorch callbacks (skorch.callbacks.Callback instances or classes, or "
                f"(name, callback) pairs), got {cb!r}.")


def check_image_shape(image_shape, n_features):
    """Raise a ``ValueError`` unless ``image_shape`` is ``"auto"``, None or
    ``(C, H, W)``, positive integers, with ``C * H * W == n_features``."""
    shape = image_shape
    if shape is None or (isinstance(shape, str) and shape == "auto"):
        return
    if (not isinstance(shape, (tuple, list)) or len(shape) != 3
            or not all(_is_count(s) and s >= 1 for s in shape)):
        raise ValueError(
            f"image_shape must be (channels, height, width) with positive integers, "
            f"got {shape!r}."
        )
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={tuple(shape)!r} has {math.prod(shape)} values per image but "
            f"X has {n_features} features; each row must be one flattened image of "
            f"that shape."
        )


def resolve_image_shape(image_shape, X):
    """The image shape ``(C, H, W)`` of the rows of ``X``, or None (not images).

    ``"auto"``: ``(1, s, s)`` when each row has ``s * s`` values with
    ``s >= MIN_IMAGE_SIDE`` and every value of ``X`` lies in [0, 1] (single-channel
    square images with pixels scaled to [0, 1], as MNIST, USPS or scikit-learn's digits
    divided by their maximum); None otherwise. A given shape is checked against the
    number of features.
    """
    if isinstance(image_shape, str) and image_shape == "auto":
        n_features = X.shape[1]
        side = math.isqrt(n_features)
        if side >= MIN_IMAGE_SIDE and side * side == n_features and in_unit_interval(X):
            return (1, side, side)
        return None
    if image_shape is None:
        return None
    check_image_shape(image_shape, X.shape[1])
    return tuple(int(s) for s in image_shape)


def in_unit_interval(X):
    """Whether every value of ``X`` lies in [0, 1] (what the ``"auto"`` settings test).

    For data with an ``input_scale`` (an :class:`~skdeepcluster._data.ArraySource`),
    the values after scaling; out-of-core data's range was recorded by the validation
    pass.
    """
    return bool(X.min() >= 0 and X.max() <= 1)


def check_unit_interval(X, setting, alternative=None):
    """Raise a ``ValueError`` unless every value of ``X`` lies in [0, 1].

    ``setting`` names what needs it (e.g. ``"likelihood='bernoulli'"``) and
    ``alternative``, when given, the setting to use otherwise.
    """
    if not in_unit_interval(X):
        lo, hi = float(X.min()), float(X.max())
        instead = "" if alternative is None else f" or use {alternative}"
        raise ValueError(
            f"{setting} needs every value of X in [0, 1], but X ranges over "
            f"[{lo:.6g}, {hi:.6g}]. Scale X (e.g. divide pixels by 255){instead}."
        )


def check_scored_range(X, bernoulli):
    """Raise a ``ValueError`` when a model whose reconstruction term is Bernoulli
    (``bernoulli``: the binary cross-entropy, or VaDE's Bernoulli likelihood) is scored
    on ``X`` with values outside [0, 1], where that term is undefined (it would return a
    finite but meaningless score, e.g. for test data not scaled as the training data)."""
    if bernoulli:
        check_unit_interval(X, "Scoring a model whose reconstruction term is a Bernoulli "
                               "likelihood (binary cross-entropy)")


class _BaseDeep(BaseEstimator):
    """What every estimator of the package shares.

    Subclasses implement ``_fit(X, device, seed, checkpoint)`` returning a dict of
    fitted attributes; ``_fit_validated`` sets them only when training succeeded, so a
    failed ``fit`` never leaves a half-fitted (or corrupted) estimator behind. The
    trained skorch net is kept as ``net_``; ``module_`` is its torch module.

    With ``checkpoint`` set, ``_fit_validated`` opens the fit's checkpoint file (see
    :mod:`skdeepcluster._checkpoint`): a finished fit's file gives the fitted
    attributes at once; otherwise ``_fit`` receives the checkpoint, resumes from the
    stage it holds and writes the next ones.
    """

    _parameter_constraints: dict = {
        "batch_size": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"})],
        "input_scale": [Interval(Real, 0, None, closed="neither"), None],
        "mixed_precision": ["boolean", StrOptions({"auto"})],
        "device": _DEVICE,
        "random_state": ["random_state"],
        "checkpoint": [None, str, os.PathLike],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
    }

    def _check_fit_data(self, X):
        """Checks of the training data beyond ``validate_data`` (hook)."""

    @abstractmethod
    def _fit(self, X, device, seed, checkpoint):
        """Train on validated ``X`` and return the fitted attributes as a dict.

        ``checkpoint`` is None or the fit's
        :class:`~skdeepcluster._checkpoint.Checkpoint`.
        """

    def _fit_validated(self, X, checkpoint=None):
        """Validate ``X``, train and set the fitted attributes (only if training ends).

        ``checkpoint`` is the checkpoint of an enclosing fit (a clusterer pretraining
        its autoencoder keeps the pretraining epochs in its own file); by default this
        estimator's own checkpoint, if it has one, is used.
        """
        saved = {k: v for k, v in vars(self).items()
                 if k in ("n_features_in_", "feature_names_in_")}
        nested = checkpoint is not None
        try:
            check_params(self)
            X = self._validate_training_data(X)
            self._check_fit_data(X)
            device = resolve_device(self.device)
            seed = broadcast_seed(draw_seed(self.random_state))
            if not nested:
                if self.checkpoint is not None and world_size() > 1:
                    raise ValueError(
                        "checkpoint is not supported in a multi-process (data-parallel) "
                        "fit: set checkpoint=None, or fit in a single process."
                    )
                checkpoint = Checkpoint.open(self, X, device)
                if checkpoint is not None:
                    # A resumed fit goes on with the seed it started with (which
                    # random_state=None drew afresh).
                    seed = checkpoint.seed = (seed if checkpoint.seed is None
                                              else checkpoint.seed)
            finished = (None if nested or checkpoint is None
                        else checkpoint.resume("finished"))
            if finished is not None:
                fitted = finished["fitted"]
            else:
                with (interruptible(), seeded(seed, device), fit_progress(self),
                      collective_fit()):
                    fitted = self._fit(X, device, seed, checkpoint)
                if checkpoint is not None and not nested:
                    checkpoint.save("finished", {"fitted": fitted,
                                                 "epoch": fitted.get("n_iter_", 0)})
        except BaseException:
            for k in ("n_features_in_", "feature_names_in_"):
                vars(self).pop(k, None)
            vars(self).update(saved)
            raise
        fitted = dict(fitted, device_=device)
        fitted["resumed_from_"] = (None if nested or checkpoint is None
                                   else checkpoint.resumed_from())
        vars(self).update(fitted)
        return self

    @property
    def module_(self):
        """The trained torch module (the skorch net's ``module_``).

        Examples
        --------
        Zero epochs keep the example instant (the network stays untrained):

        >>> import numpy as np
        >>> from skdeepcluster import AutoEncoder
        >>> X = np.random.RandomState(0).rand(10, 4).astype(np.float32)
        >>> ae = AutoEncoder(hidden_dims=(8,), latent_dim=2, max_epochs=0,
        ...                  random_state=0).fit(X)
        >>> type(ae.module_).__name__
        'AutoEncoderModule'
        """
        return self.net_.module_

    def _input_scale(self):
        """``input_scale`` as a float (None: data used as given)."""
        scale = self.input_scale
        if scale is None:
            return None
        if isinstance(scale, bool) or not (np.isfinite(scale) and scale > 0):
            raise ValueError(
                f"input_scale must be None or a finite positive number (the factor every "
                f"value of X is multiplied by, e.g. 1/255 for pixels), got {scale!r}."
            )
        return float(scale)

    def _validate_training_data(self, X):
        """``validate_data`` at fit, streamed for out-of-core ``X``, with the scaling.

        In-memory input is validated (and converted) by scikit-learn as usual and is
        returned as is when ``input_scale`` is None; out-of-core input (a memory map,
        h5py, zarr or Dask array) becomes an :class:`~skdeepcluster._data.ArraySource`
        after one streamed pass (finite values, range). With ``input_scale``, the data
        comes as a source that scales every batch it gives.
        """
        scale = self._input_scale()
        if is_out_of_core(X):
            X = validate_out_of_core(self, X, reset=True, ensure_min_samples=2)
        else:
            X = validate_data(self, X, dtype=_FIT_DTYPES, ensure_min_samples=2)
        return with_scale(X, scale)

    def _validate_for_inference(self, X):
        check_is_fitted(self)
        scale = self._input_scale()
        if is_out_of_core(X):  # finite values are checked block by block as read
            X = validate_out_of_core(self, X, reset=False)
        else:
            X = validate_data(self, X, dtype=_FIT_DTYPES, reset=False)
        return with_scale(X, scale)

    def _forward(self, fn, X, module=None, autocast=False):
        """``fn`` over ``X`` in chunks, on the device of ``module``.

        ``module`` (default: the fitted ``module_``) is put in eval mode meanwhile; the
        computation runs in float64 for float64 data and in float32 otherwise, under
        bfloat16 autocast with ``autocast`` (see
        :func:`~skdeepcluster._training.forward_chunks`).
        """
        module = self.module_ if module is None else module
        param = next(module.parameters())
        return forward_chunks(fn, X, module=module, device=param.device, autocast=autocast,
                              chunk_size=inference_chunk(module))

    def __setstate__(self, state):
        # skorch maps a net trained on CUDA to the CPU when CUDA is missing.
        super().__setstate__(state)
        if "net_" in state:
            self.device_ = torch.device(self.net_.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class BaseDeepClusterer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin,
                        _BaseDeep):
    """Base class of the deep clusterers.

    It validates the data, resolves the device, seeds torch, pretrains (or reuses) the
    autoencoder, and provides batched ``transform``/``predict``. Subclasses implement
    ``_fit`` (the method's clustering phase) and ``_embed_tensor``/``_assign``.

    It is not meant to be instantiated and takes no parameters of its own; the
    subclasses share ``n_clusters``, ``hidden_dims``, ``latent_dim``, ``max_epochs``,
    ``tol``, ``batch_size``, ``input_scale``, ``kmeans_backend``, ``mixed_precision``,
    ``device``, ``random_state``, ``checkpoint``, ``checkpoint_every``, ``verbose`` and
    ``callbacks``, and those that
    pretrain an autoencoder also ``pretrain_epochs``, ``pretrain_lr``, ``autoencoder``
    and ``memory`` (see each subclass for their meaning).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features_out)
        Cluster centres in the embedding (set by the subclasses' ``fit``).
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample.
    n_iter_ : int
        Number of epochs of the clustering phase.
    history_ : list of dict
        One record per epoch of the clustering phase, with ``train_loss``, ``dur`` and
        ``delta_label`` (the change of the labels that ``tol`` is compared with).
    resumed_from_ : dict or None
        Where the fit resumed from its ``checkpoint`` (None: from the start).
    kmeans_backend_ : str
        The k-means backend the fit ran (``kmeans_backend`` with ``"auto"`` resolved).
    net_ : skorch.NeuralNet
        The trained skorch net; ``module_`` is its module.
    device_ : torch.device
        The device the model was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit (only when X has string column names).

    See Also
    --------
    DECClusterer : DEC and IDEC.
    DCNClusterer : Deep Clustering Network.
    VaDEClusterer : Variational Deep Embedding.
    DeepClusterClusterer : DeepCluster (pseudo-labels, no autoencoder).

    Examples
    --------
    The estimators of the package derive from it, so an ``isinstance`` check finds
    every deep clusterer, and they all share ``fit``, ``predict``, ``fit_predict``,
    ``transform`` and ``fit_transform``:

    >>> from skdeepcluster import (BaseDeepClusterer, DCNClusterer, DECClusterer,
    ...                            DeepClusterClusterer, VaDEClusterer)
    >>> issubclass(DECClusterer, BaseDeepClusterer)
    True
    >>> all(issubclass(cls, BaseDeepClusterer) for cls in
    ...     (DCNClusterer, VaDEClusterer, DeepClusterClusterer))
    True
    >>> isinstance(DECClusterer(n_clusters=3), BaseDeepClusterer)
    True
    """

    _parameter_constraints: dict = {
        **_BaseDeep._parameter_constraints,
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "hidden_dims": [tuple, list, StrOptions({"auto"})],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "kmeans_backend": [StrOptions(set(KMEANS_BACKENDS))],
    }

    def _check_fit_data(self, X):
        if X.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}."
            )
        if self.kmeans_backend == "faiss":
            import_faiss()  # before any training: a clear error if faiss is missing

    def _kmeans_backend(self, n_samples, n_clusters=None, device=None, on_device=False):
        """The backend ``kmeans_backend`` gives a k-means of ``n_samples`` rows into
        ``n_clusters`` (default: ``self.n_clusters``); see
        :func:`~skdeepcluster._kmeans.resolve_kmeans_backend`."""
        n_clusters = self.n_clusters if n_clusters is None else n_clusters
        return resolve_kmeans_backend(self.kmeans_backend, n_samples, n_clusters, device,
                                      on_device=on_device)

    # -- inference ---------------------------------------------------------------------
    @abstractmethod
    def _embed_tensor(self, xb):
        """The embedding of a batch (tensor in, tensor out)."""

    def _embed(self, X):
        return self._forward(self._embed_tensor, X)

    def transform(self, X):
        """Embed ``X`` in the learned latent space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data, in memory or out of core (as in ``fit``).

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features_out)
            The embedding, in the dtype of ``X``.

        Examples
        --------
        Zero epochs keep the example instant (the networks stay untrained):

        >>> import numpy as np
        >>> from skdeepcluster import DECClusterer
        >>> X = np.random.RandomState(0).rand(10, 4).astype(np.float32)
        >>> dec = DECClusterer(n_clusters=2, hidden_dims=(8,), latent_dim=2,
        ...                    pretrain_epochs=0, max_epochs=0, random_state=0).fit(X)
        >>> Z = dec.transform(X)
        >>> Z.shape, Z.dtype
        ((10, 2), dtype('float32'))
        """
        X = self._validate_for_inference(X)
        return to_numpy(self._embed(X), X.dtype)

    def predict(self, X):
        """Predict the cluster of each sample of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data, in memory or out of core (as in ``fit``).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the cluster each sample belongs to.

        Examples
        --------
        Zero epochs keep the example instant (the networks stay untrained):

        >>> import numpy as np
        >>> from skdeepcluster import DECClusterer
        >>> X = np.random.RandomState(0).rand(10, 4).astype(np.float32)
        >>> dec = DECClusterer(n_clusters=2, hidden_dims=(8,), latent_dim=2,
        ...                    pretrain_epochs=0, max_epochs=0, random_state=0).fit(X)
        >>> labels = dec.predict(X)
        >>> labels.shape, bool(np.isin(labels, [0, 1]).all())
        ((10,), True)
        """
        X = self._validate_for_inference(X)
        return self._assign(self._embed(X))

    def _assign(self, Z):
        """Labels of embedded rows: nearest cluster centre (hook)."""
        centers = torch.as_tensor(self.cluster_centers_, device=Z.device, dtype=Z.dtype)
        return to_numpy(nearest_center(Z, centers))

    @staticmethod
    def _final_assignment(Z, centers):
        """Centres with empty clusters reseeded and the matching labels (numpy)."""
        return assign_nonempty(to_numpy(Z), np.asarray(centers))

    @property
    def _n_features_out(self):
        return self.cluster_centers_.shape[1]



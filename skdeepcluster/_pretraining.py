"""The clusterers that start from a pretrained autoencoder: DEC/IDEC, DCN and VaDE.

They share :class:`AutoEncoderClusterer`, which sits above both :mod:`._base` and
:mod:`._autoencoder` (the autoencoder is itself a :class:`~._base._BaseDeep`), so that no
module imports another that imports it back.
"""

import copy
from numbers import Integral, Real

import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory

from ._autoencoder import AutoEncoder, resolve_loss
from ._base import SMALL_DATA, BaseDeepClusterer, check_image_shape, resolve_image_shape
from ._data import training_data, unscaled
from ._kmeans import (
    AUTO_TORCH_DISTANCES,
    WARD_MAX_ROWS,
    check_ward_clusters,
    cluster,
    refine_with_gaussian_mixture,
    ward_clustering,
)
from ._progress import current as current_progress
from ._training import TRAIN_DTYPE, to_numpy


#: Values of the clusterers' ``init`` parameter (how the pretrained embedding is first
#: clustered).
INITS = ("auto", "kmeans", "gmm", "ward")


def resolve_init(init, n_samples, n_clusters, augmented=False):
    """What ``init`` runs for ``n_samples`` rows into ``n_clusters``: ``"kmeans"``,
    ``"gmm"`` or ``"ward"``.

    ``"auto"`` is ``"kmeans"`` beyond :data:`~skdeepcluster._kmeans.AUTO_TORCH_DISTANCES`
    distances, where only the bounded torch k-means is cheap enough. Below, an embedding
    pretrained on augmented images (``augmented``) is ``"ward"`` when Ward's linkage
    takes every row (at most :data:`~skdeepcluster._kmeans.WARD_MAX_ROWS`), else
    ``"kmeans"``: trained to map shifted, rotated and zoomed copies of an image
    together, its classes are compact; Ward over all rows started digits and USPS
    higher than k-means, while on MNIST, where it links a random subset, the start
    depended on the subset and DEC and IDEC ended slightly lower on average (on such
    embeddings the mixture made the start unstable: it merged classes on some USPS
    seeds). Any other
    embedding is ``"gmm"`` from :data:`~skdeepcluster._base.SMALL_DATA` samples up and
    ``"kmeans"`` below, where the full covariances
    (``latent_dim * (latent_dim + 1) / 2`` numbers per cluster) have too few points each
    and overfit.
    """
    if init != "auto":
        return init
    if n_samples * n_clusters > AUTO_TORCH_DISTANCES:
        return "kmeans"
    if augmented:
        return "ward" if n_samples <= WARD_MAX_ROWS else "kmeans"
    return "gmm" if SMALL_DATA <= n_samples else "kmeans"


def _fit_autoencoder(autoencoder, X, checkpoint=None):
    """Fit and return ``autoencoder`` (a module-level function so joblib can cache it).

    ``checkpoint``, an enclosing fit's (left out of joblib's cache key), receives the
    pretraining epochs.
    """
    if checkpoint is None:
        return autoencoder.fit(X)
    autoencoder._validate_params()
    return autoencoder._fit_validated(X, checkpoint=checkpoint)


def autoencoder_kwargs(module):
    """``AutoEncoderModule`` arguments that rebuild the architecture of ``module``."""
    linears = [m for m in module.encoder if isinstance(m, torch.nn.Linear)]
    return dict(n_features=linears[0].in_features,
                hidden_dims=tuple(m.out_features for m in linears[:-1]),
                latent_dim=linears[-1].out_features, loss=module.loss)


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


class AutoEncoderClusterer(BaseDeepClusterer):
    """Base of the clusterers that pretrain an :class:`AutoEncoder` (or start from one
    passed as ``autoencoder=``): the parameters ``pretrain_epochs``, ``pretrain_lr``,
    ``augment``, ``contrastive``, ``autoencoder``, ``memory`` and ``init``, the
    pretraining itself and the initial clustering of the pretrained embedding."""

    _parameter_constraints: dict = {
        **BaseDeepClusterer._parameter_constraints,
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "pretrain_lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "autoencoder": [HasMethods(["fit", "transform"]), None],
        "memory": [None, str, HasMethods(["cache"])],
        "init": [StrOptions(set(INITS))],
        "image_shape": [tuple, list, StrOptions({"auto"}), None],
        "augment": ["boolean"],
        "contrastive": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
    }

    def _check_fit_data(self, X):
        super()._check_fit_data(X)
        check_image_shape(self.image_shape, X.shape[1])
        if self.init == "ward":  # before the pretraining, not after it
            check_ward_clusters(self.n_clusters)

    def _pretraining_images(self, X):
        """``(image_shape, augmented)`` of this fit's pretraining on the validated
        training data ``X``: the shape of the rows as images (None: not images) and
        whether it trains (or trained) on augmented copies of them. A fitted
        ``autoencoder`` says what its pretraining did; otherwise the autoencoder's
        parameters, or these, are resolved on ``X``'s values (a pass over ``X``)."""
        ae = getattr(self.autoencoder, "estimator", self.autoencoder)
        if ae is not None and _is_fitted(ae):  # what its pretraining did
            shape = getattr(ae, "image_shape_", None)
            return shape, bool(getattr(ae, "augment", False)) and shape is not None
        # Pretrained in this fit, by ae's or these parameters (getattr: an object that
        # is not an AutoEncoder is not images; the pretraining rejects it clearly).
        params = self if ae is None else ae
        shape = resolve_image_shape(getattr(params, "image_shape", None), X)
        return shape, bool(getattr(params, "augment", False)) and shape is not None

    def _resolved_init(self, X, images=None):
        """``init`` with ``"auto"`` resolved (see :func:`resolve_init`) for the
        validated training data ``X`` and this fit's pretraining (``images``:
        :meth:`_pretraining_images`, computed when not given): augmented when the
        autoencoder trains (or trained) with ``augment=True`` on rows that are images."""
        _, augmented = images or self._pretraining_images(X)
        return resolve_init(self.init, len(X), self.n_clusters, augmented=augmented)

    def _initial_clustering(self, Z, seed, n_init, init):
        """The clustering of the pretrained embedding ``Z`` (tensor) that the clustering
        phase starts from: ``(centers, labels)`` (numpy). By ``init`` (resolved by
        :meth:`_resolved_init`): Ward's linkage (``"ward"``), or k-means (``n_init``
        runs, the backend of ``kmeans_backend``), refined by a full-covariance Gaussian
        mixture when ``init`` is ``"gmm"``."""
        progress = current_progress()
        if progress is not None:
            progress.phase("initial clustering")
        if init == "ward":
            return ward_clustering(to_numpy(Z), self.n_clusters, seed)
        centers, labels, _ = cluster(Z, self.n_clusters, backend=self._kmeans_backend(len(Z)),
                                     n_init=n_init, seed=seed)
        if init == "gmm":
            centers, labels = refine_with_gaussian_mixture(to_numpy(Z), centers, labels,
                                                           seed)
        return centers, labels

    def _pretrained_autoencoder(self, X, device, seed, loss="auto", checkpoint=None):
        """A private copy of the pretrained autoencoder module, on ``device``.

        ``autoencoder=None`` pretrains an :class:`AutoEncoder` built from this
        estimator's parameters (``input_scale`` included), with the reconstruction loss
        ``loss`` (``"auto"``: the binary cross-entropy for data in [0, 1], else the
        Huber error); an unfitted
        ``AutoEncoder`` is cloned and fitted; a fitted one (possibly wrapped in
        ``FrozenEstimator``) is reused as is. The object passed in is never modified.
        With ``memory``, pretraining is cached on disk, keyed by the autoencoder's
        parameters: ``loss`` is resolved on ``X`` before the autoencoder is built, so
        that DEC's ``"auto"`` and VaDE's explicit loss, the same pretraining, share one
        cache entry. With ``checkpoint`` (this fit's), the pretraining epochs are
        checkpointed there and resume from it.
        """
        ae = self.autoencoder
        ae = getattr(ae, "estimator", ae)  # sklearn.frozen.FrozenEstimator
        if ae is None:
            ae = AutoEncoder(
                hidden_dims=self.hidden_dims, latent_dim=self.latent_dim,
                max_epochs=self.pretrain_epochs, batch_size=self.batch_size,
                lr=self.pretrain_lr, loss=resolve_loss(loss, X),
                mixed_precision=self.mixed_precision,
                device=device, random_state=seed, verbose=self.verbose,
                input_scale=self.input_scale, image_shape=self.image_shape,
                augment=self.augment, contrastive=self.contrastive,
            )
        elif not isinstance(ae, AutoEncoder):
            raise TypeError(
                f"autoencoder must be a skdeepcluster.AutoEncoder (fitted or not), got "
                f"{type(ae).__name__}."
            )
        if not _is_fitted(ae):  # fit a clone, never the object passed in
            ae = clone(ae)
            if ae.random_state is None:
                ae.set_params(random_state=seed)
            fit = check_memory(self.memory).cache(_fit_autoencoder, ignore=["checkpoint"])
            ae = fit(ae, unscaled(X), checkpoint)
        if ae.input_scale != self.input_scale:
            raise ValueError(
                f"The autoencoder has input_scale={ae.input_scale!r} but "
                f"{type(self).__name__} has input_scale={self.input_scale!r}; they must "
                f"scale the data alike."
            )
        if ae.n_features_in_ != X.shape[1]:
            raise ValueError(
                f"The autoencoder was fitted on {ae.n_features_in_} features but X has "
                f"{X.shape[1]} features."
            )
        return copy.deepcopy(ae.module_).to(device=device, dtype=TRAIN_DTYPE)

    def _pretrained_embedding(self, X, device, seed, loss="auto", checkpoint=None):
        """The start of every autoencoder-based fit: ``(autoencoder, Xt, Z)``.

        The pretrained autoencoder module (see :meth:`_pretrained_autoencoder`), the
        training data as a tensor on ``device`` in the training dtype (float32; for
        out-of-core data, a source read batch by batch: see
        :func:`~skdeepcluster._data.training_data`), and its embedding. With
        ``checkpoint``, the pretrained module is taken from it when it holds one (stage
        ``"pretrained"``), else written to it once pretrained.
        """
        payload = None if checkpoint is None else checkpoint.resume("pretrained")
        if payload is not None:
            autoencoder = payload["autoencoder"].to(device=device, dtype=TRAIN_DTYPE)
        else:
            autoencoder = self._pretrained_autoencoder(X, device, seed, loss, checkpoint)
            if checkpoint is not None:
                checkpoint.save("pretrained", {"autoencoder": autoencoder})
        Xt = training_data(X, device)
        Z = self._forward(autoencoder.encoder, Xt, module=autoencoder)
        return autoencoder, Xt, Z

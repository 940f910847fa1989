"""AutoEncoder: the pretraining every clusterer starts from, as a transformer of its own."""

from numbers import Integral, Real

import numpy as np
import torch

from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from skorch.utils import to_tensor

from ._base import (
    SMALL_DATA,
    _BaseDeep,
    check_image_shape,
    check_scored_range,
    check_unit_interval,
    in_unit_interval,
    resolve_batch_size,
    resolve_hidden_dims,
    resolve_image_shape,
    resolve_pretrain_epochs,
)
from ._losses import (ELEMENTWISE_RECONSTRUCTION_LOSSES, info_nce,
                      row_reconstruction_loss)
from ._data import training_data
from ._distributed import synchronize
from ._training import (
    OPTIMIZERS,
    DeepNet,
    ImageAugmentation,
    history_records,
    make_net,
    to_numpy,
    train,
)
from .nn import AutoEncoderModule

#: Default pretraining learning rate of each optimiser.
_DEFAULT_LR = {"adam": 1e-3, "sgd": 1.0}

#: Weight of the contrastive term that ``contrastive="auto"`` gives an augmented
#: pretraining of fewer than :data:`~skdeepcluster._base.SMALL_DATA` samples.
CONTRASTIVE_WEIGHT = 0.01

#: Temperature of the contrastive term: the cosine similarities of two embeddings are
#: divided by it before the softmax.
CONTRASTIVE_TEMPERATURE = 1.0


def resolve_loss(loss, X):
    """The reconstruction loss: ``"auto"`` is the binary cross-entropy for data within
    [0, 1] and the Huber error otherwise."""
    if loss == "auto":
        return "binary_cross_entropy" if in_unit_interval(X) else "huber"
    return loss


def resolve_optimizer(optimizer, lr, X):
    """The pretraining optimizer: ``(class, kwargs, lr, name)``.

    ``"auto"`` is SGD with momentum 0.9 and learning rate 1 for data within [0, 1] with
    at least :data:`~skdeepcluster._base.SMALL_DATA` samples (the DEC recipe, which gives
    the best embeddings on MNIST-sized image data), Adam with learning rate 1e-3
    otherwise (SGD at that rate diverges on standardised data, and did worse on small
    data).
    """
    if optimizer == "auto":
        optimizer = "sgd" if in_unit_interval(X) and len(X) >= SMALL_DATA else "adam"
    cls, kwargs = OPTIMIZERS[optimizer]
    return cls, kwargs, _DEFAULT_LR[optimizer] if lr == "auto" else lr, optimizer


def resolve_contrastive(contrastive, n_samples):
    """The weight of the contrastive term of an augmented pretraining on ``n_samples``
    rows: ``"auto"`` is :data:`CONTRASTIVE_WEIGHT` below
    :data:`~skdeepcluster._base.SMALL_DATA` samples and 0 from there on."""
    if contrastive == "auto":
        return CONTRASTIVE_WEIGHT if n_samples < SMALL_DATA else 0.0
    return float(contrastive)


class _AutoEncoderNet(DeepNet):
    #: Weight of the contrastive term between two augmented views of each batch (set
    #: after construction; used only with :attr:`augment`).
    contrastive = 0.0

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.module_.reconstruction_loss(y_pred[0], X)

    def train_step_single(self, batch, **fit_params):
        """A step on one augmented copy of the batch, or, with :attr:`contrastive`, on
        two: the mean of their reconstruction losses plus ``contrastive`` times the
        InfoNCE loss of their embeddings (:func:`~skdeepcluster._losses.info_nce`)."""
        if not self.contrastive or self.augment is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        x = to_tensor(batch[0], device=self.device)
        generator = self.augment_generator()
        # Both views in one forward pass (the network treats rows independently): the
        # mean reconstruction loss over the stacked rows is the mean of the two views'.
        views = torch.cat([self.augment(x, generator), self.augment(x, generator)])
        output, z = self.infer(views, **fit_params)
        first, second = z.split(len(x))
        loss = (self.module_.reconstruction_loss(output, views)
                + self.contrastive * info_nce(first, second, CONTRASTIVE_TEMPERATURE))
        loss.backward()
        synchronize(self.module_)  # a multi-process run only
        return {"loss": loss, "y_pred": (output[:len(x)], first)}


class AutoEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _BaseDeep):
    """Fully connected autoencoder trained to reconstruct its input.

    The encoder is ``n_features -> hidden_dims -> latent_dim`` with ReLU between linear
    layers and a linear embedding; the decoder mirrors it. This is the pretraining of
    every clusterer of the package; fit it once and pass it to several clusterers
    (``autoencoder=``) to compare them from the same starting point.

    The reconstruction loss is, by default, the binary cross-entropy of a Bernoulli
    decoder for data in [0, 1] (the decoder then outputs logits and the reconstruction
    is their sigmoid) and the Huber error (the squared error with linear tails)
    otherwise. Every clusterer pretrains with
    this choice (:class:`VaDEClusterer` with the loss that matches its decoder).

    Parameters
    ----------
    hidden_dims : tuple of int or "auto", default="auto"
        Widths of the hidden layers of the encoder (the decoder mirrors them).
        ``"auto"``: the papers' (500, 500, 2000) for 5,000 samples or more, (256, 256,
        512) for fewer (small data trains faster and clustered better with the smaller
        network).
    latent_dim : int, default=10
        Dimension of the embedding.
    max_epochs : int or "auto", default="auto"
        Passes over the data. ``"auto"``: 100, or fewer for large data, so that training
        takes at most 14,000 gradient steps (from about 36,000 samples at batch size
        256 on; 52 epochs for 70,000 samples): an epoch of large data is already many
        steps, and the length of a fit grows with the number of steps.
    batch_size : int or "auto", default="auto"
        Samples per gradient step. ``"auto"``: 256 for 5,000 samples or more, 64 for
        fewer (more gradient steps per pass over small data).
    lr : float or "auto", default="auto"
        Learning rate; ``"auto"``: 1.0 for SGD, 1e-3 for Adam.
    loss : {"auto", "squared_error", "huber", "binary_cross_entropy"}, default="auto"
        Reconstruction loss, averaged over samples and features. ``"binary_cross_entropy"``
        needs every value of ``X`` in [0, 1] (values in between are soft targets).
        ``"huber"`` is the squared error for residuals up to 1 in size and grows
        linearly beyond (``2 |r| - 1``), so that a few large residuals (rare values many
        standard deviations out, as standardised features have) do not dominate the
        training. ``"auto"`` is the binary cross-entropy when every value of ``X`` lies
        in [0, 1] and the Huber error otherwise: on image data in [0, 1] the
        cross-entropy gave embeddings that k-means clusters better and more consistently
        across seeds than the squared error, and on standardised data the Huber error
        did (see the benchmarks page). Its threshold of 1 is a standard deviation of
        standardised features: standardise data on other scales (e.g. with
        :class:`~sklearn.preprocessing.StandardScaler`).
    optimizer : {"auto", "sgd", "adam"}, default="auto"
        SGD with momentum 0.9, or Adam. ``"auto"`` picks SGD when every value of ``X``
        lies in [0, 1] (e.g. pixels divided by 255: the recipe of the DEC paper's code,
        which gives markedly better embeddings on MNIST-sized image data) and there are
        5,000 samples or more, and Adam otherwise (robust to the scale of standardised
        data, where SGD at learning rate 1 diverges, and better on small data).
    mixed_precision : bool or "auto", default="auto"
        bfloat16 autocast in training forward passes. ``"auto"`` turns it on where the
        device runs bfloat16 natively (CPUs with AVX512-BF16 or AMX, CUDA devices of
        compute capability 8.0 and newer), where it is 2-3x faster for the default
        network, and off elsewhere, where emulated bfloat16 is slower than float32. The
        network trains in float32 whatever the dtype of ``X``; outputs are in the dtype
        of ``X`` (float64 data is embedded in float64).
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"`` or a :class:`torch.device`.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation and shuffling. Global RNG state is never touched.
    checkpoint : str, os.PathLike or None, default=None
        Directory in which the fit keeps its state, so that ``fit`` called again on the
        same data with the same parameters (after Ctrl-C, a crash or a killed process)
        resumes where it stood, with the result of an uninterrupted fit on the CPU, and
        returns a finished fit at once (see ``resumed_from_`` and the user guide). The
        state is written every ``checkpoint_every`` epochs and at the end, atomically,
        to ``<checkpoint>/AutoEncoder-<fingerprint>.ckpt``: one file per fingerprint of
        the data and of the parameters other than ``checkpoint``, ``checkpoint_every``,
        ``verbose`` and ``callbacks``, so that fits of other data or parameters (e.g. in
        ``GridSearchCV``) never share it. Files are read with pickle: only use a
        directory you trust.
    checkpoint_every : int, default=1
        Epochs between two writes of the checkpoint.
    verbose : int, default=0
        0: silent. 1: one progress display for the whole fit (phase, epoch, loss,
        label change, elapsed and remaining time): a ``tqdm`` bar on a terminal or in
        Jupyter, plain lines on standard error elsewhere (logs, CI). 2: skorch's
        per-epoch tables and per-batch progress bars instead.
    callbacks : list of skorch callbacks, default=None
        Passed to the skorch net that trains the module (copied, never modified).
    input_scale : float or None, default=None
        Factor every value of ``X`` is multiplied by as it is read, batch by batch
        (after the cast to the network's floating dtype), in ``fit`` and in every other
        method: ``1/255`` turns ``uint8`` pixels into [0, 1] without a scaled copy of the
        data, which a ``Pipeline`` scaler would make (and which out-of-core data, see
        the user guide, cannot afford). The ``"auto"`` choices that depend on the range
        of ``X`` (``loss``, ``optimizer``) see the scaled values, and
        :meth:`inverse_transform` returns reconstructions in the units of ``X``. None
        uses ``X`` as given. A plain factor rather than an ``"auto"`` rule (say, 1/255
        for ``uint8``): the dtype does not say what the data is, and the default keeps
        the data as given.
    image_shape : "auto", tuple of int (C, H, W) or None, default="auto"
        Shape of one image when the rows of ``X`` are flattened images (row-major, as
        ``numpy.reshape``), which turns on ``augment``. ``"auto"`` takes rows of
        ``s * s`` values, ``s >= 8``, with every value in [0, 1] as single-channel
        ``s x s`` images (MNIST and USPS with pixels divided by 255, scikit-learn's
        digits divided by 16) and anything else as not images; None: never images.
        Give the shape for colour or non-square images, and None for tabular data that
        happens to look like that. The network stays fully connected either way.
    augment : bool, default=True
        Train on lightly augmented images (random shifts of up to a tenth of the image,
        rotations of up to 10 degrees, zooms of 0.9-1.1; one draw per image and step),
        reconstructing the augmented image, when ``image_shape`` gives a shape. The
        denoising and augmented pretrainings of the DEC line of work: the embedding
        then varies less with the small deformations of an image and more with its
        class. On USPS, k-means on the embedding was 0.92 on every seed tried against
        0.73-0.86 without (see the benchmarks page).
    contrastive : float or "auto", default="auto"
        Weight of a contrastive term in the augmented pretraining (used only when
        ``augment`` is on and the rows are images). With a weight above 0, each step
        draws two augmented copies of every image in the batch, reconstructs both (the
        mean of the two losses) and adds this weight times the InfoNCE loss of the two
        copies' embeddings: each copy must tell the other copy of its image from the
        batch's other images by cosine similarity (temperature 1). Reconstruction alone
        does not keep similar-looking images of different classes apart (in 8 x 8
        digits it merged the 3s with the 9s); the contrastive term pulls the copies of
        one image together and pushes different images apart. A step then costs about
        1.5 times as much (the two copies go through the network as one batch).
        ``"auto"``: 0.01 below 5,000 samples, where it raised the mean accuracy of every
        clusterer on digits and on small subsets of USPS and MNIST, and 0 from 5,000
        samples on, where the plain augmented pretraining already does well, a step's
        cost matters more, and the term sent one USPS seed in four into a poor
        partition. 0 turns it off.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net. ``net_.forward(X)`` returns ``(reconstruction,
        embedding)`` as tensors, rows in the order of ``X``; ``net_.predict(X)`` the
        reconstruction as an array (for data in [0, 1] with the cross-entropy loss:
        logits, see :meth:`inverse_transform`).
    module_ : torch.nn.Module
        The trained :class:`~skdeepcluster.nn.AutoEncoderModule`.
    image_shape_ : tuple of int or None
        The image shape training used (``image_shape`` with ``"auto"`` resolved), None
        for data that are not images.
    device_ : torch.device
        The device the module was trained on.
    history_ : list of dict
        Per-epoch records (``train_loss``, ``dur``, ...).
    n_iter_ : int
        Number of epochs run.
    resumed_from_ : dict or None
        None when the fit ran from the start; otherwise where it resumed from its
        ``checkpoint``: ``{"path": file, "stage": stage, "epoch": n}``, ``stage`` being
        ``"pretraining"`` or ``"finished"`` (the file held a finished fit, returned as
        it was) and ``n`` the epochs of that stage the file held. ``history_`` lists
        every epoch, those run before the interruption included.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit (only when X has string column names).

    See Also
    --------
    DECClusterer : Deep embedded clustering, which starts from this pretraining.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepcluster import AutoEncoder
    >>> X = np.random.RandomState(0).rand(64, 8).astype(np.float32)
    >>> ae = AutoEncoder(hidden_dims=(16,), latent_dim=2, max_epochs=2,
    ...                  random_state=0).fit(X)
    >>> ae.transform(X).shape
    (64, 2)
    >>> ae.inverse_transform(ae.transform(X)).shape
    (64, 8)
    """

    _parameter_constraints: dict = {
        **_BaseDeep._parameter_constraints,
        "hidden_dims": [tuple, list, StrOptions({"auto"})],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "loss": [StrOptions({"auto", *ELEMENTWISE_RECONSTRUCTION_LOSSES})],
        "optimizer": [StrOptions({"auto", *OPTIMIZERS})],
        "image_shape": [tuple, list, StrOptions({"auto"}), None],
        "augment": ["boolean"],
        "contrastive": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(self, hidden_dims="auto", latent_dim=10, max_epochs="auto",
                 batch_size="auto", lr="auto", loss="auto", optimizer="auto",
                 mixed_precision="auto", device="auto", random_state=None, checkpoint=None,
                 checkpoint_every=1, verbose=0, callbacks=None, input_scale=None,
                 image_shape="auto", augment=True, contrastive="auto"):
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.optimizer = optimizer
        self.mixed_precision = mixed_precision
        self.device = device
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.verbose = verbose
        self.callbacks = callbacks
        self.input_scale = input_scale
        self.image_shape = image_shape
        self.augment = augment
        self.contrastive = contrastive

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, of any numeric dtype (the network trains in float32): in
            memory, or larger than memory as a :class:`numpy.memmap`, an h5py dataset,
            a zarr array or a Dask array, read batch by batch.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : AutoEncoder
            The fitted estimator.
        """
        return self._fit_validated(X)

    def _check_fit_data(self, X):
        if self.loss == "binary_cross_entropy":
            check_unit_interval(X, "loss='binary_cross_entropy'", "loss='squared_error'")
        check_image_shape(self.image_shape, X.shape[1])

    def _fit(self, X, device, seed, checkpoint=None):
        optimizer, optimizer_kwargs, lr, _ = resolve_optimizer(self.optimizer, self.lr, X)
        batch_size = resolve_batch_size(self.batch_size, len(X))
        max_epochs = resolve_pretrain_epochs(self.max_epochs, len(X), batch_size)
        net = make_net(
            _AutoEncoderNet, AutoEncoderModule,
            dict(n_features=X.shape[1],
                 hidden_dims=resolve_hidden_dims(self.hidden_dims, len(X)),
                 latent_dim=self.latent_dim, loss=resolve_loss(self.loss, X)),
            optimizer=optimizer, lr=lr, optimizer_kwargs=optimizer_kwargs,
            max_epochs=max_epochs, batch_size=batch_size, device=device,
            seed=seed, verbose=self.verbose, callbacks=self.callbacks,
            mixed_precision=self.mixed_precision,
        )
        image_shape = resolve_image_shape(self.image_shape, X)
        if image_shape is not None and self.augment:
            net.augment = ImageAugmentation(image_shape)
            net.contrastive = resolve_contrastive(self.contrastive, len(X))
        net.initialize()
        if max_epochs > 0:
            train(net, training_data(X, device), epochs=max_epochs,
                  checkpoint=checkpoint, stage="pretraining",
                  resume=None if checkpoint is None else checkpoint.resume("pretraining"))
        return {"net_": net, "history_": history_records(net), "n_iter_": len(net.history),
                "image_shape_": image_shape}

    def transform(self, X):
        """Embed ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to embed.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
            The embedding, in the dtype of ``X``.
        """
        X = self._validate_for_inference(X)
        return to_numpy(self._forward(self.module_.encoder, X), X.dtype)

    def inverse_transform(self, X):
        """Decode embeddings back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Embeddings, e.g. from :meth:`transform`.

        Returns
        -------
        X_rec : ndarray of shape (n_samples, ``n_features_in_``)
            Reconstructions (probabilities for ``loss="binary_cross_entropy"``), in
            the dtype of the input, in the units of ``X`` (divided by ``input_scale``
            when it is set).
        """
        from sklearn.utils import check_array
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        Z = check_array(X, dtype=["float64", "float32"])
        if Z.shape[1] != self.latent_dim:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects "
                f"latent_dim={self.latent_dim} features."
            )
        X_rec = to_numpy(self._forward(self.module_.decode, Z), Z.dtype)
        scale = self._input_scale()
        return X_rec if scale is None else X_rec / np.asarray(scale, dtype=X_rec.dtype)

    def score(self, X, y=None):
        """Negative mean reconstruction loss of ``X`` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Minus the training loss on ``X``, averaged over samples and features:
            ``-mean((X - decode(encode(X)))**2)`` for ``loss="squared_error"``, the
            negative mean Huber error for ``loss="huber"``, the negative binary
            cross-entropy for ``loss="binary_cross_entropy"`` (which raises a
            ``ValueError`` for ``X`` outside [0, 1], where it is undefined).
        """
        X = self._validate_for_inference(X)
        module = self.module_
        check_scored_range(X, module.loss == "binary_cross_entropy")
        total = self._forward(
            lambda xb: row_reconstruction_loss(module(xb)[0], xb, module.loss), X)
        return -float(total.sum()) / X.size

    @property
    def _n_features_out(self):
        return self.module_.encoder[-1].out_features

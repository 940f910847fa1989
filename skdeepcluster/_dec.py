"""Deep Embedded Clustering (DEC) and Improved DEC (IDEC)."""

import math
from numbers import Integral, Real

import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import (
    CLUSTERING_MAX_EPOCHS,
    CLUSTERING_STEPS,
    check_scored_range,
    epochs_within,
    resolve_batch_size,
)
from ._data import training_data
from ._pretraining import AutoEncoderClusterer, autoencoder_kwargs
from ._losses import (
    kl_divergence,
    reconstruction_loss,
    row_reconstruction_loss,
    target_distribution,
)
from ._training import (
    OPTIMIZERS,
    BatchStream,
    ClusteringPhase,
    DeepNet,
    ImageAugmentation,
    _TensorData,
    all_finite,
    history_records,
    make_net,
    to_numpy,
    train,
)
from .nn import AutoEncoderModule, DECModule

#: ``augment_clustering="auto"`` augments the clustering phase of images whose sides
#: are all at least this long: on 16 x 16 (USPS) and 28 x 28 (MNIST) images it raised
#: the accuracy, on 8 x 8 (scikit-learn's digits), where a sub-pixel shift or a few
#: degrees of rotation resample a large part of every stroke, it lowered it.
AUGMENTED_CLUSTERING_MIN_SIDE = 16
#: Epochs and gradient steps of the ``max_epochs="auto"`` clustering phase when it is
#: augmented (when it is not: the shared :data:`~skdeepcluster._base.CLUSTERING_STEPS`
#: and :data:`~skdeepcluster._base.CLUSTERING_MAX_EPOCHS`): its labels keep moving by
#: more than ``tol`` (each epoch sees other copies of the images), so it usually runs
#: its whole length, and run long it can drift (IDEC on USPS, seed 1: 0.977 after 40
#: epochs, 0.914 after 100). On MNIST-sized data (274 steps per epoch at batch size
#: 256) the steps cap it at 15 epochs (4,110 steps: the epochs are rounded up).
AUGMENTED_MAX_EPOCHS = 40
AUGMENTED_CLUSTERING_STEPS = 4_000


class _DECNet(DeepNet):
    """KL(P || Q) against the phase's current target (+ reconstruction for IDEC)."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        phase = self._run.phase
        q, x_hat, _ = y_pred
        loss = kl_divergence(phase.target[y_true], q)
        if x_hat is not None:
            loss = reconstruction_loss(x_hat, X, self.module_.loss) + phase.gamma * loss
        return loss


class _DECPhase(ClusteringPhase):
    """DEC's refresh: the target ``P`` from ``q`` on the whole data, as each epoch begins.

    The change of an epoch is the fraction of the labels ``argmax q`` that changed over
    it; the ``q`` computed for it gives the next epoch's target.
    """

    def __init__(self, estimator, Xt, gamma):
        self.estimator, self.Xt, self.gamma = estimator, Xt, gamma
        self.q = self.labels = self.target = None

    def _soft_assign(self, net):
        # The target needs q only: IDEC's decoder is not run (half of this pass).
        q = self.estimator._forward(net.module_.soft_assign, self.Xt, module=net.module_,
                                    autocast=net.mixed_precision)
        if not all_finite(q):
            raise net._diverged("the soft assignments became non-finite")
        return q

    def refresh(self, net):
        if self.q is None:  # the first epoch
            self.q = self._soft_assign(net)
            self.labels = self.q.argmax(1)
        self.target, self.q = target_distribution(self.q), None

    def measure(self, net):
        self.q = self._soft_assign(net)
        labels = self.q.argmax(1)
        change = float((labels != self.labels).float().mean())
        self.labels = labels
        return change

    def state_dict(self):
        return {"q": self.q, "labels": self.labels}

    def load_state_dict(self, state):
        self.q, self.labels = state["q"], state["labels"]


class DECClusterer(AutoEncoderClusterer):
    """Deep Embedded Clustering (Xie et al., 2016); IDEC (Guo et al., 2017) with ``gamma > 0``.

    An autoencoder is pretrained (or reused), a clustering of its embedding (k-means, or
    Ward's linkage for images: ``init``) gives the initial centres, then the encoder and
    the centres are trained together to sharpen the soft assignments: Student-t
    similarities ``q`` between embeddings and centres are pulled towards the target
    ``p_ij ∝ q_ij^2 / f_j`` (``f_j = sum_i q_ij``), computed on the whole dataset every
    ``update_interval`` iterations, by minimising ``KL(P || Q)``. Training stops when
    fewer than a fraction ``tol`` of the labels change between two target updates, or
    after ``max_epochs``. With ``gamma > 0`` (IDEC) the decoder is kept and the loss is
    ``MSE(x, x_hat) + gamma * KL(P || Q)``, which preserves the local structure of the
    embedding.

    On images of at least 16 x 16 pixels the clustering phase trains, by default, on
    augmented copies of the images, as DEC-DA and IDEC-DA (Guo et al., 2018): the target
    comes from the images, the soft assignments it is compared with from their randomly
    shifted, rotated and zoomed copies (see ``augment_clustering``).

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    hidden_dims : tuple of int or "auto", default="auto"
        Hidden layer widths of the encoder of the pretrained autoencoder. ``"auto"``:
        the papers' (500, 500, 2000) for 5,000 samples or more, (256, 256, 512) for
        fewer (small data trains faster and clustered better with the smaller network).
    latent_dim : int, default=10
        Dimension of the embedding.
    gamma : float, default=0.0
        Weight of the clustering loss against reconstruction. ``0`` is DEC (decoder
        dropped); ``> 0`` is IDEC (the paper uses 0.1).
    alpha : float, default=1.0
        Degrees of freedom of the Student-t kernel.
    pretrain_epochs : int or "auto", default="auto"
        Epochs of autoencoder pretraining (ignored when ``autoencoder`` is fitted).
        ``"auto"``: 100, or fewer for large data so that pretraining takes at most
        14,000 gradient steps (see :class:`AutoEncoder`'s ``max_epochs``).
    max_epochs : int or "auto", default="auto"
        Maximum passes over the data in the clustering phase. ``"auto"``: 100, or
        fewer for large data so that it takes at most 6,000 gradient steps (22 epochs
        on 70,000 samples at batch size 256; by then IDEC had settled on standardised
        MNIST); when the clustering phase is augmented (``augment_clustering``), 40, or
        fewer for large data so that it takes about 4,000 gradient steps (15 epochs on
        70,000 samples): an augmented phase rarely meets ``tol``, and run much longer
        it drifted away from its best labels on some seeds.
    batch_size : int or "auto", default="auto"
        Samples per gradient step (pretraining and clustering). ``"auto"``: 256 for
        5,000 samples or more, 64 for fewer (more gradient steps per pass over small
        data).
    input_scale : float or None, default=None
        Factor every value of ``X`` is multiplied by as it is read, batch by batch
        (after the cast to the network's floating dtype), in ``fit`` and in every other
        method: ``1/255`` turns ``uint8`` pixels into [0, 1] without a scaled copy of
        the data, which a ``Pipeline`` scaler would make (and out-of-core data cannot
        afford). The ``"auto"`` choices that depend on the range of ``X`` (the
        pretraining's loss and optimizer) see the scaled values. None uses ``X`` as
        given. A plain factor rather than an ``"auto"`` rule (say, 1/255 for ``uint8``):
        the dtype does not say what the data is.
    image_shape : "auto", tuple of int (C, H, W) or None, default="auto"
        Shape of one image when the rows of ``X`` are flattened images, which turns on
        ``augment`` in the pretraining (ignored when ``autoencoder`` is given; see
        :class:`AutoEncoder`). ``"auto"``: rows of ``s * s`` values, ``s >= 8``, all
        in [0, 1], are single-channel ``s x s`` images; None: never images.
    augment : bool, default=True
        Pretrain on lightly augmented images (random shifts, rotations and zooms; see
        :class:`AutoEncoder`) when ``image_shape`` gives a shape.
    contrastive : float or "auto", default="auto"
        Weight of a contrastive term in the augmented pretraining, which pulls two
        augmented copies of an image together and pushes different images apart (see
        :class:`AutoEncoder`). ``"auto"``: 0.01 below 5,000 samples, 0 from 5,000 on.
    augment_clustering : bool or "auto", default="auto"
        Train the clustering phase on augmented images too, as DEC-DA and IDEC-DA (Guo
        et al., 2018): the target ``P`` is computed from the images themselves, the
        soft assignments ``q`` that the loss pulls towards it from randomly shifted,
        rotated and zoomed copies (which IDEC's decoder reconstructs), so that the
        clusters hold whatever small transformation of an image. Needs rows that are
        images, of the shape the pretraining uses (``image_shape``, or that of a given
        ``autoencoder``): ``True`` raises a ``ValueError`` otherwise. The labels are
        always those of the images themselves. ``"auto"``: on when ``augment`` is true
        and both sides of the images are at least 16 pixels (on 8 x 8 images it lowered
        the accuracy).
    lr : float or "auto", default="auto"
        Learning rate of the clustering phase: 0.01 (SGD) for DEC, 0.001 (Adam) for IDEC.
    optimizer : {"auto", "sgd", "adam"}, default="auto"
        Optimiser of the clustering phase: SGD with momentum 0.9 for DEC and Adam for
        IDEC when ``"auto"``, as in the papers.
    pretrain_lr : float or "auto", default="auto"
        Learning rate of the autoencoder pretraining, whose optimizer is chosen as
        :class:`AutoEncoder`'s ``optimizer="auto"`` (SGD for data in [0, 1] with 5,000
        samples or more, else Adam); ``"auto"`` is that optimizer's default (1.0 for
        SGD, 1e-3 for Adam). The reconstruction loss is :class:`AutoEncoder`'s
        ``loss="auto"`` (binary cross-entropy for data in [0, 1], else Huber error).
    update_interval : int or None, default=None
        Iterations (mini-batches) between two updates of the target distribution. None
        means once per pass over the data, whatever its size (the papers used 140
        iterations on MNIST, about half a pass).
    tol : float, default=1e-3
        Stop when fewer than this fraction of labels change between two target updates.
    n_init : int, default=100
        Number of k-means runs on the pretrained embedding (the best by inertia is
        kept): many, because a single run on an embedding often ends in a local optimum
        that splits one class and merges two, and on a 10-d embedding 100 runs cost
        seconds even for 70,000 rows. Not used by a Ward start (``init``).
    kmeans_backend : {"auto", "sklearn", "torch", "faiss"}, default="auto"
        The k-means that clusters the pretrained embedding (not used by a Ward start,
        ``init``).
        ``"sklearn"``: :class:`sklearn.cluster.KMeans`. ``"torch"``: the package's
        k-means in torch, on ``device`` (k-means++ starts; distances computed in blocks
        of bounded memory, under 200 MB beyond the embedding for a million samples into
        10,000 clusters), for data and cluster counts where scikit-learn's k-means is
        slow. ``"faiss"``: faiss's k-means (float32 on the CPU, random starts, a fixed
        number of iterations; install ``pip install "skdeepcluster[faiss]"``). ``"auto"``
        is ``"sklearn"``, or ``"torch"`` when ``n_samples * n_clusters`` exceeds 10**8;
        it never depends on what is installed, so installing faiss does not change
        results. Every backend uses ``n_init`` and ``random_state``, and gives labels
        that are the nearest centres, with empty clusters reseeded.
    init : {"auto", "kmeans", "gmm", "ward"}, default="auto"
        How the pretrained embedding is first clustered. ``"kmeans"``: k-means
        (``n_init`` runs with ``kmeans_backend``). ``"ward"``: Ward's agglomerative
        clustering (:class:`sklearn.cluster.AgglomerativeClustering`) of a random 10,000
        rows at most; the clustering phase starts from the means of its clusters, each
        row in the nearest one's. Ward merges, from single rows up, the two clusters
        whose merge adds least to the within-cluster sum of squares (greedily, without
        random starts). ``"gmm"``: k-means, then a Gaussian mixture with full
        covariances fitted by EM from its centres
        (:class:`sklearn.mixture.GaussianMixture`, on a random 100,000 rows of larger
        data); the clustering phase starts from the mixture's means and most probable
        components. Clusters in an embedding are rarely spheres of one size, as k-means
        assumes: it tends to split a wide class and merge two narrow ones, which the
        mixture can undo. ``"auto"``: ``"kmeans"`` when ``n_samples * n_clusters``
        exceeds 10**8 (Ward and EM are slow there). Below, after an augmented
        pretraining (``augment=True`` on image rows), whose classes are compact:
        ``"ward"`` up to 10,000 samples, which Ward links all (it started digits and
        USPS higher than k-means), ``"kmeans"`` beyond (on a random subset, as for
        MNIST, the start depended on the rows drawn and DEC and IDEC ended slightly
        lower); the mixture made the start unstable there. Other embeddings: ``"gmm"``
        from 5,000 samples on, ``"kmeans"`` below (on fewer samples the full covariances
        overfit, and Ward started tabular data lower than k-means). ``"ward"`` allows at
        most 10,000 clusters.
    autoencoder : AutoEncoder or None, default=None
        Pretraining to start from. None pretrains an :class:`AutoEncoder` built from
        ``hidden_dims``, ``latent_dim``, ``pretrain_epochs`` and ``pretrain_lr``. An
        unfitted ``AutoEncoder`` is cloned and fitted; a fitted one (or
        ``sklearn.frozen.FrozenEstimator(fitted)``, which survives ``clone``, e.g. in
        ``GridSearchCV``) is reused without refitting. It is never modified.
    memory : str, joblib.Memory or None, default=None
        Cache the pretraining on disk (as ``Pipeline(memory=...)``): refits with the same
        data and autoencoder parameters, e.g. in ``GridSearchCV`` over ``n_clusters`` or
        ``gamma``, reuse it. The cache key includes the seed, so this needs a fixed
        ``random_state`` (with ``None`` every fit draws a new seed).
    mixed_precision : bool or "auto", default="auto"
        bfloat16 autocast in training forward passes. ``"auto"`` turns it on where the
        device runs bfloat16 natively (CPUs with AVX512-BF16 or AMX, CUDA devices of
        compute capability 8.0 and newer), where it is 2-3x faster for the default
        network, and off elsewhere, where emulated bfloat16 is slower than float32. The
        network trains in float32 whatever the dtype of ``X``; targets are computed in
        float32; outputs are in the dtype of ``X`` (float64 data is embedded in
        float64).
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"`` or a :class:`torch.device`.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and k-means. Global RNG state is never touched.
    checkpoint : str, os.PathLike or None, default=None
        Directory in which the fit keeps its state, so that ``fit`` called again on the
        same data with the same parameters (after Ctrl-C, a crash or a killed process)
        resumes where it stood, with the result of an uninterrupted fit on the CPU, and
        returns a finished fit at once (see ``resumed_from_`` and the user guide). The
        state is written at the end of pretraining, after the initial clustering, every
        ``checkpoint_every`` epochs and at the end, atomically, to
        ``<checkpoint>/DECClusterer-<fingerprint>.ckpt``: one file per fingerprint of
        the data and of the parameters other than ``checkpoint``, ``checkpoint_every``,
        ``memory``, ``verbose`` and ``callbacks``, so that fits of other data or
        parameters (e.g. in ``GridSearchCV``) never share it. Files are read with
        pickle: only use a directory you trust.
    checkpoint_every : int, default=1
        Epochs of pretraining, and of the clustering phase (target updates), between two
        writes of the checkpoint.
    verbose : int, default=0
        0: silent. 1: one progress display for the whole fit (phase, epoch, loss,
        label change, elapsed and remaining time): a ``tqdm`` bar on a terminal or in
        Jupyter, plain lines on standard error elsewhere (logs, CI). 2: skorch's
        per-epoch tables and per-batch progress bars instead.
    callbacks : list of skorch callbacks, default=None
        Passed to the skorch net of the clustering phase (copied, never modified).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, latent_dim)
        Cluster centres in the embedding.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (``argmax_j q_ij``; what ``predict`` gives on the
        training data).
    n_iter_ : int
        Number of epochs of the clustering phase, an epoch being the
        ``update_interval`` iterations that follow a target update.
    history_ : list of dict
        One record per epoch: ``train_loss``, ``delta_label`` (fraction of the labels
        ``argmax q`` that changed over the epoch), ``dur``.
    kmeans_backend_ : str
        The k-means backend of the fit: ``kmeans_backend``, with ``"auto"`` resolved
        (a Ward start, ``init_ == "ward"``, runs no k-means).
    init_ : str
        How the embedding was first clustered: ``init``, with ``"auto"`` resolved.
    resumed_from_ : dict or None
        None when the fit ran from the start; otherwise where it resumed from its
        ``checkpoint``: ``{"path": file, "stage": stage, "epoch": n}``, ``stage`` being
        ``"pretraining"``, ``"pretrained"``, ``"clustering"`` or ``"finished"`` (the
        file held a finished fit, returned as it was) and ``n`` the epochs of that stage
        the file held. ``history_`` lists every epoch, those run before the interruption
        included.
    net_ : skorch.NeuralNet
        The trained skorch net; ``module_`` is its module. ``net_.forward(X)`` returns
        ``(q, reconstruction, embedding)`` as tensors, rows in the order of ``X``
        (``reconstruction`` is None for DEC); ``net_.predict(X)`` the soft assignments
        ``q`` as an array.
    device_ : torch.device
        The device the model was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit (only when X has string column names).

    See Also
    --------
    AutoEncoder : The pretraining.
    sklearn.cluster.KMeans : k-means on the raw features.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DECClusterer
    >>> X, _ = make_blobs(n_samples=200, centers=3, n_features=5, random_state=0)
    >>> dec = DECClusterer(n_clusters=3, hidden_dims=(32,), latent_dim=2,
    ...                    pretrain_epochs=20, max_epochs=5, random_state=0)
    >>> labels = dec.fit_predict(X.astype("float32"))
    >>> labels.shape, dec.cluster_centers_.shape
    ((200,), (3, 2))
    >>> dec.predict_proba(X[:2].astype("float32")).sum(axis=1).round(6)
    array([1., 1.], dtype=float32)
    """

    _parameter_constraints: dict = {
        **AutoEncoderClusterer._parameter_constraints,
        "gamma": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "optimizer": [StrOptions({"auto", "sgd", "adam"})],
        "update_interval": [Interval(Integral, 1, None, closed="left"), None],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "augment_clustering": ["boolean", StrOptions({"auto"})],
    }

    def __init__(self, n_clusters=8, *, hidden_dims="auto", latent_dim=10,
                 gamma=0.0, alpha=1.0, pretrain_epochs="auto", max_epochs="auto",
                 batch_size="auto", input_scale=None, image_shape="auto", augment=True,
                 contrastive="auto", augment_clustering="auto",
                 lr="auto", optimizer="auto", pretrain_lr="auto", update_interval=None,
                 tol=1e-3, n_init=100, kmeans_backend="auto", init="auto", autoencoder=None,
                 memory=None, mixed_precision="auto", device="auto", random_state=None,
                 checkpoint=None, checkpoint_every=1, verbose=0, callbacks=None):
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.gamma = gamma
        self.alpha = alpha
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.input_scale = input_scale
        self.image_shape = image_shape
        self.augment = augment
        self.contrastive = contrastive
        self.augment_clustering = augment_clustering
        self.lr = lr
        self.optimizer = optimizer
        self.pretrain_lr = pretrain_lr
        self.update_interval = update_interval
        self.tol = tol
        self.n_init = n_init
        self.kmeans_backend = kmeans_backend
        self.init = init
        self.autoencoder = autoencoder
        self.memory = memory
        self.mixed_precision = mixed_precision
        self.device = device
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.verbose = verbose
        self.callbacks = callbacks

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pretrain (or reuse) the autoencoder, then run DEC/IDEC on ``X``.

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
        self : DECClusterer
            The fitted estimator.
        """
        return self._fit_validated(X)

    def _optimizer(self):
        name = self.optimizer
        if name == "auto":
            name = "adam" if self.gamma > 0 else "sgd"
        lr = self.lr if self.lr != "auto" else (1e-3 if name == "adam" else 0.01)
        optimizer, optimizer_kwargs = OPTIMIZERS[name]
        return optimizer, lr, optimizer_kwargs

    def _fit(self, X, device, seed, checkpoint=None):
        images = self._pretraining_images(X)
        init_method = self._resolved_init(X, images)
        augmentation = self._clustering_augmentation(images[0])  # may raise: before pretraining
        resume = None if checkpoint is None else checkpoint.resume("clustering")
        if resume is None:
            autoencoder, Xt, Z = self._pretrained_embedding(X, device, seed,
                                                            checkpoint=checkpoint)
            centers, _ = self._initial_clustering(Z, seed, self.n_init, init_method)
            architecture = autoencoder_kwargs(autoencoder)
        else:  # the weights and centres come from the checkpoint
            architecture = resume["autoencoder"]
            autoencoder = AutoEncoderModule(**architecture)
            Xt = training_data(X, device)
            centers = torch.zeros(self.n_clusters, architecture["latent_dim"])

        data = _TensorData(Xt, torch.arange(len(X), device=device))
        batch_size = resolve_batch_size(self.batch_size, len(X))
        per_pass = len(BatchStream(data, batch_size, None))
        interval = self.update_interval or per_pass
        max_epochs = self.max_epochs
        if isinstance(max_epochs, str):  # "auto"
            steps, epochs = (
                (CLUSTERING_STEPS, CLUSTERING_MAX_EPOCHS) if augmentation is None
                else (AUGMENTED_CLUSTERING_STEPS, AUGMENTED_MAX_EPOCHS))
            max_epochs = epochs_within(steps, epochs, len(X), batch_size)
        n_updates = math.ceil(max_epochs * per_pass / interval)
        optimizer, lr, optimizer_kwargs = self._optimizer()
        net = make_net(
            _DECNet, DECModule,
            dict(autoencoder=autoencoder, centers=torch.as_tensor(centers),
                 alpha=self.alpha, keep_decoder=self.gamma > 0),
            optimizer=optimizer, lr=lr, optimizer_kwargs=optimizer_kwargs, max_epochs=1,
            batch_size=batch_size, device=device, seed=seed, verbose=self.verbose,
            callbacks=self.callbacks, mixed_precision=self.mixed_precision,
            batches_per_epoch=interval,
        )
        net.augment = augmentation
        net.initialize()
        train(net, data, epochs=n_updates, phase=_DECPhase(self, Xt, self.gamma),
              tol=self.tol, checkpoint=checkpoint, extra={"autoencoder": architecture},
              resume=resume)

        # Final labels in X's dtype, as predict(X) computes them.
        Z = self._forward(net.module_.encoder, X, module=net.module_)
        centers, labels = self._final_assignment(Z, to_numpy(net.module_.centers.to(Z.dtype)))
        with torch.no_grad():
            net.module_.centers.copy_(torch.as_tensor(centers))
        return {
            "net_": net,
            "cluster_centers_": centers,
            "labels_": labels,
            "history_": history_records(net),
            "n_iter_": len(net.history),
            "kmeans_backend_": self._kmeans_backend(len(X)),
            "init_": init_method,
        }

    def _clustering_augmentation(self, shape):
        """The augmentation of the clustering phase (see ``augment_clustering``), or
        None, for rows that are images of ``shape`` in the pretraining (None: not
        images; see :meth:`_pretraining_images`)."""
        setting = self.augment_clustering
        if not isinstance(setting, str) and not setting:  # False
            return None
        if shape is None:
            if not isinstance(setting, str):  # True
                raise ValueError(
                    "augment_clustering=True needs rows that are images, and these are "
                    "not (image_shape, or the autoencoder's, resolved to None): pass "
                    "image_shape=(C, H, W), or augment_clustering='auto' or False.")
            return None
        if isinstance(setting, str) and not (  # "auto"
                self.augment and min(shape[1:]) >= AUGMENTED_CLUSTERING_MIN_SIDE):
            return None
        return ImageAugmentation(shape)

    def _embed_tensor(self, xb):
        return self.module_.encoder(xb)

    def predict_proba(self, X):
        """Soft assignments ``q`` (Student-t similarity to each centre, normalised).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        q : ndarray of shape (n_samples, n_clusters)
            Rows sum to one; in the dtype of ``X``.
        """
        X = self._validate_for_inference(X)
        return to_numpy(self._forward(self.module_.soft_assign, X), X.dtype)

    def score(self, X, y=None):
        """Negative training objective on ``X`` (higher is better).

        ``-KL(P || Q)`` for DEC and ``-(MSE + gamma * KL(P || Q))`` for IDEC, with the
        target ``P`` computed from ``Q`` on ``X`` itself (IDEC's reconstruction term is
        the autoencoder's loss: by default the binary cross-entropy for data in [0, 1],
        else the Huber error; the cross-entropy raises a ``ValueError`` for ``X`` outside
        [0, 1]).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Negative objective.
        """
        X = self._validate_for_inference(X)
        module = self.module_
        if module.decoder is None:
            q = self._forward(module.soft_assign, X)
            return -float(kl_divergence(target_distribution(q), q))

        check_scored_range(X, module.loss == "binary_cross_entropy")

        def q_and_rec(xb):
            q, x_hat, _ = module(xb)
            return q, row_reconstruction_loss(x_hat, xb, module.loss)

        q, rec = self._forward(q_and_rec, X)
        rec = float(rec.sum()) / X.size
        return -(rec + self.gamma * float(kl_divergence(target_distribution(q), q)))

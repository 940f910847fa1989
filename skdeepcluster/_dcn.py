"""Deep Clustering Network (DCN): k-means-friendly embeddings."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import check_scored_range, resolve_batch_size
from ._data import training_data
from ._distributed import world_size
from ._pretraining import AutoEncoderClusterer, autoencoder_kwargs
from ._kmeans import nearest_center, online_center_update, refine_kmeans, reseed_empty_clusters
from ._losses import dcn_loss, row_reconstruction_loss, squared_distances
from ._training import (
    OPTIMIZERS,
    TRAIN_DTYPE,
    ClusteringPhase,
    DeepNet,
    _TensorData,
    bf16_autocast,
    history_records,
    make_net,
    to_numpy,
    train,
)
from .nn import AutoEncoderModule


class _DCNNet(DeepNet):
    """The autoencoder trained on DCN's loss, with mini-batch k-means in its train step.

    The clustering state lives in the phase (:class:`_DCNPhase`): the centres, their
    running counts and the current cluster of every training sample (batches carry
    sample indices as ``y``). Each training step is one gradient step on
    :func:`dcn_loss` with the current assignments, then (no gradient, with the updated
    network) the batch is reassigned to its nearest centres and those centres are moved
    by :func:`online_center_update`.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        phase = self._run.phase
        x_hat, z = y_pred
        return dcn_loss(x_hat, X, z, phase.centers[phase.assignments[y_true]], phase.lam,
                        self.module_.loss)

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        phase = self._run.phase
        Xi, idx = batch
        with torch.no_grad():
            z = self.infer_embedding(Xi)
            labels = nearest_center(z, phase.centers)
            phase.centers, phase.counts = online_center_update(
                phase.centers, phase.counts, z, labels)
            phase.assignments[idx] = labels
        return step

    def infer_embedding(self, x):
        """The embedding of a training batch (bfloat16 autocast with mixed precision)."""
        encoder = self.module_.encoder
        if self.mixed_precision:
            return bf16_autocast(encoder, x, self.device, x.dtype)
        return encoder(x)


class _DCNPhase(ClusteringPhase):
    """DCN's clustering state, updated by every training step (see :class:`_DCNNet`).

    The change of an epoch is the fraction of samples whose assignment changed over it
    (through the per-batch reassignments). After measuring it, k-means is re-run on
    the whole embedding every ``kmeans_interval`` epochs, and otherwise the centres of
    clusters left empty are reseeded.
    """

    def __init__(self, estimator, Xt, centers, counts, assignments):
        self.estimator, self.Xt = estimator, Xt
        self.lam = estimator.lam
        self.centers, self.counts, self.assignments = centers, counts, assignments
        self.before = None

    def refresh(self, net):
        self.before = self.assignments.clone()

    def measure(self, net):
        change = float((self.assignments != self.before).float().mean())
        interval = self.estimator.kmeans_interval
        if interval is not None and len(net.history) % interval == 0:
            self._rerun_kmeans(net)
        else:
            self._reseed_empty(net)
        return change

    def _embedding(self, net):
        return self.estimator._forward(net.module_.encoder, self.Xt, module=net.module_,
                                       autocast=net.mixed_precision)

    def _rerun_kmeans(self, net):
        """Full k-means on the current embedding, started from the current centres."""
        Z = self._embedding(net)
        centers, labels, _ = refine_kmeans(Z, to_numpy(self.centers),
                                           backend=self.estimator._kmeans_backend(len(Z)))
        self.centers = torch.as_tensor(centers, device=Z.device)
        self.assignments = torch.as_tensor(labels, device=Z.device)

    def _reseed_empty(self, net):
        """Move the centre of every cluster left without samples onto a far sample."""
        sizes = torch.bincount(self.assignments, minlength=len(self.centers))
        if bool((sizes > 0).all()):
            return
        Z = to_numpy(self._embedding(net))
        centers, labels = reseed_empty_clusters(Z, to_numpy(self.centers),
                                                to_numpy(self.assignments))
        device = self.centers.device
        self.counts = torch.where(sizes == 0, self.estimator.initial_count, self.counts)
        self.centers = torch.as_tensor(centers, device=device)
        self.assignments = torch.as_tensor(labels, device=device)

    def state_dict(self):
        return {"centers": self.centers, "counts": self.counts,
                "assignments": self.assignments}

    def load_state_dict(self, state):
        self.centers, self.counts = state["centers"], state["counts"]
        self.assignments = state["assignments"]


class DCNClusterer(AutoEncoderClusterer):
    """Deep Clustering Network (Yang et al., 2017): k-means-friendly embeddings.

    An autoencoder is pretrained (or reused) and a clustering of its embedding (k-means,
    or Ward's linkage for images: ``init``) gives the initial centres and assignments. The autoencoder is then trained on the
    reconstruction error plus a k-means term that pulls each embedding towards the
    centre of its cluster, while the clustering follows the network by mini-batch
    k-means: after each gradient step the samples of the batch are reassigned to their
    nearest centre and each centre moves towards its new members with step ``1 / c_k``,
    ``c_k`` being the number of samples it has absorbed so far (starting at
    ``initial_count``). Training stops when fewer than a fraction ``tol`` of the labels
    change over an epoch, or after ``max_epochs``. A final k-means pass on the final
    embedding, started from the learned centres, gives ``labels_`` and
    ``cluster_centers_``.

    The loss of a batch is::

        mean((x - x_hat)**2) + lam / 2 * mean_i ||f(x_i) - mu_{s_i}||^2

    where the reconstruction error is averaged over samples *and features* (the
    package's MSE convention, as in :class:`AutoEncoder`) and the k-means term over
    samples. The paper (Yang et al., 2017) weights the squared error summed over the
    ``d`` features with 1 and the k-means term with ``λ / 2``, so its ``λ`` is
    ``d * lam`` here. The official code puts its weight on the other term, ``lbd *
    ||x - x_hat||^2 + beta * ||f(x) - mu||^2``, i.e. ``lam = 2 * beta / (lbd * d)``: its
    MNIST example (``lbd = 0.05``, ``beta = 1``, ``d = 784``) is ``lam ≈ 0.05``. The
    k-means term grows with the squared scale of the embedding, which the pretraining
    decides, so the best ``lam`` depends on it; the default was chosen by a sweep on
    MNIST (``benchmarks/results/dcn_sweep.md``).

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
    lam : float, default=0.05
        Weight of the k-means term against the reconstruction error (see above for the
        paper's and the official code's conventions). Larger values make the embedding
        more k-means friendly at the cost of reconstruction; 0 only fine-tunes the
        autoencoder.
    pretrain_epochs : int or "auto", default="auto"
        Epochs of autoencoder pretraining (ignored when ``autoencoder`` is fitted).
        ``"auto"``: 100, or fewer for large data so that pretraining takes at most
        14,000 gradient steps (see :class:`AutoEncoder`'s ``max_epochs``).
    max_epochs : int, default=50
        Maximum passes over the data in the clustering phase.
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
    lr : float, default=1e-4
        Learning rate of the clustering phase. Larger rates let the k-means term
        distort the embedding faster than the assignments can follow, and lose accuracy.
    optimizer : {"adam", "sgd"}, default="adam"
        Optimiser of the clustering phase: Adam, or SGD with momentum 0.9 (the paper's
        choice; Adam at 1e-4 did as well or better in our sweep).
    pretrain_lr : float or "auto", default="auto"
        Learning rate of the autoencoder pretraining, whose optimizer is chosen as
        :class:`AutoEncoder`'s ``optimizer="auto"`` (SGD for data in [0, 1] with 5,000
        samples or more, else Adam); ``"auto"`` is that optimizer's default (1.0 for
        SGD, 1e-3 for Adam). The reconstruction loss is :class:`AutoEncoder`'s
        ``loss="auto"`` (binary cross-entropy for data in [0, 1], else Huber error).
    initial_count : int, default=100
        Initial value of the running count ``c_k`` of every centre (100 in the official
        code): a centre moves towards a new member by ``1 / c_k``, so a larger count
        makes the centres move more slowly at first.
    kmeans_interval : int or None, default=None
        Epochs between full k-means re-runs on the embedding of the whole dataset
        (started from the current centres, keeping their running counts; the official
        code does it every 10 epochs). None never re-runs k-means during training; a
        re-run every 5 epochs did not help in our sweep.
    tol : float, default=1e-3
        Stop when fewer than this fraction of labels change over an epoch.
    n_init : int, default=100
        Number of k-means runs on the pretrained embedding (the best by inertia is
        kept): many, because a single run on an embedding often ends in a local optimum
        that splits one class and merges two, and on a 10-d embedding 100 runs cost
        seconds even for 70,000 rows. Not used by a Ward start (``init``).
    kmeans_backend : {"auto", "sklearn", "torch", "faiss"}, default="auto"
        The k-means that clusters the pretrained embedding, and that re-runs
        (``kmeans_interval``, final pass). ``"sklearn"``: :class:`sklearn.cluster.KMeans`.
        ``"torch"``: the package's k-means in torch, on ``device`` (k-means++ starts;
        distances computed in blocks of bounded memory, under 200 MB beyond the
        embedding for a million samples into 10,000 clusters), for data and cluster
        counts where scikit-learn's k-means is slow. ``"faiss"``: faiss's k-means
        (float32 on the CPU, random starts, a fixed number of iterations; install
        ``pip install "skdeepcluster[faiss]"``). ``"auto"`` is ``"sklearn"``, or
        ``"torch"`` when ``n_samples * n_clusters`` exceeds 10**8; it never depends on
        what is installed, so installing faiss does not change results. Every backend
        uses ``n_init`` and ``random_state``, and gives labels that are the nearest
        centres, with empty clusters reseeded.
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
        data and autoencoder parameters, e.g. in ``GridSearchCV`` over ``lam``, reuse it.
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
        Seeds initialisation, shuffling and k-means. Global RNG state is never touched.
    checkpoint : str, os.PathLike or None, default=None
        Directory in which the fit keeps its state, so that ``fit`` called again on the
        same data with the same parameters (after Ctrl-C, a crash or a killed process)
        resumes where it stood, with the result of an uninterrupted fit on the CPU, and
        returns a finished fit at once (see ``resumed_from_`` and the user guide). The
        state is written at the end of pretraining, after the initial clustering, every
        ``checkpoint_every`` epochs and at the end, atomically, to
        ``<checkpoint>/DCNClusterer-<fingerprint>.ckpt``: one file per fingerprint of
        the data and of the parameters other than ``checkpoint``, ``checkpoint_every``,
        ``memory``, ``verbose`` and ``callbacks``, so that fits of other data or
        parameters (e.g. in ``GridSearchCV``) never share it. Files are read with
        pickle: only use a directory you trust.
    checkpoint_every : int, default=1
        Epochs of pretraining, and of the clustering phase, between two writes of the
        checkpoint.
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
        Cluster centres in the embedding (from the final k-means pass).
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (its nearest centre: what ``predict`` gives on
        the training data).
    counts_ : ndarray of shape (n_clusters,)
        Running counts ``c_k`` of the mini-batch k-means at the end of training:
        ``initial_count`` plus the number of assignments each centre absorbed.
    n_iter_ : int
        Number of epochs of the clustering phase.
    history_ : list of dict
        One record per epoch: ``train_loss``, ``delta_label`` (fraction of labels
        changed over the epoch), ``dur``.
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
        The trained skorch net; ``module_`` is its module (the autoencoder).
        ``net_.forward(X)`` returns ``(reconstruction, embedding)`` as tensors, rows in
        the order of ``X``; ``net_.predict(X)`` the reconstruction as an array.
    device_ : torch.device
        The device the model was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit (only when X has string column names).

    See Also
    --------
    DECClusterer : Deep embedded clustering (soft assignments, KL divergence).
    AutoEncoder : The pretraining.
    sklearn.cluster.MiniBatchKMeans : The clustering step of DCN, on raw features.

    References
    ----------
    B. Yang, X. Fu, N. D. Sidiropoulos and M. Hong. "Towards K-means-friendly spaces:
    simultaneous deep learning and clustering." ICML 2017.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DCNClusterer
    >>> X, _ = make_blobs(n_samples=200, centers=3, n_features=5, random_state=0)
    >>> dcn = DCNClusterer(n_clusters=3, hidden_dims=(32,), latent_dim=2,
    ...                    pretrain_epochs=20, max_epochs=5, random_state=0)
    >>> labels = dcn.fit_predict(X.astype("float32"))
    >>> labels.shape, dcn.cluster_centers_.shape
    ((200,), (3, 2))
    >>> bool((labels == dcn.predict(X.astype("float32"))).all())
    True
    """

    _parameter_constraints: dict = {
        **AutoEncoderClusterer._parameter_constraints,
        "lam": [Interval(Real, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "initial_count": [Interval(Integral, 0, None, closed="left")],
        "kmeans_interval": [Interval(Integral, 1, None, closed="left"), None],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_clusters=8, *, hidden_dims="auto", latent_dim=10,
                 lam=0.05, pretrain_epochs="auto", max_epochs=50, batch_size="auto",
                 input_scale=None, image_shape="auto", augment=True, contrastive="auto",
                 lr=1e-4, optimizer="adam", pretrain_lr="auto", initial_count=100,
                 kmeans_interval=None, tol=1e-3, n_init=100, kmeans_backend="auto", init="auto",
                 autoencoder=None, memory=None, mixed_precision="auto", device="auto",
                 random_state=None, checkpoint=None, checkpoint_every=1, verbose=0,
                 callbacks=None):
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.lam = lam
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.input_scale = input_scale
        self.image_shape = image_shape
        self.augment = augment
        self.contrastive = contrastive
        self.lr = lr
        self.optimizer = optimizer
        self.pretrain_lr = pretrain_lr
        self.initial_count = initial_count
        self.kmeans_interval = kmeans_interval
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
        """Pretrain (or reuse) the autoencoder, then train DCN on ``X``.

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
        self : DCNClusterer
            The fitted estimator.
        """
        return self._fit_validated(X)

    def _fit(self, X, device, seed, checkpoint=None):
        if world_size() > 1:
            raise ValueError(
                "DCNClusterer cannot train data-parallel: its cluster centres move "
                "after every mini-batch, one batch after another. Fit it in a single "
                "process (DECClusterer, VaDEClusterer, DeepClusterClusterer and "
                "AutoEncoder train data-parallel)."
            )
        init_method = self._resolved_init(X)
        resume = None if checkpoint is None else checkpoint.resume("clustering")
        if resume is None:
            autoencoder, Xt, Z = self._pretrained_embedding(X, device, seed,
                                                            checkpoint=checkpoint)
            centers, labels = self._initial_clustering(Z, seed, self.n_init, init_method)
            architecture = autoencoder_kwargs(autoencoder)
        else:  # the weights and the clustering state come from the checkpoint
            architecture = resume["autoencoder"]
            Xt = training_data(X, device)
            centers = np.zeros((self.n_clusters, architecture["latent_dim"]), np.float32)
            labels = np.zeros(len(X), np.int64)

        optimizer, optimizer_kwargs = OPTIMIZERS[self.optimizer]
        net = make_net(
            _DCNNet, AutoEncoderModule, architecture,
            optimizer=optimizer, lr=self.lr, optimizer_kwargs=optimizer_kwargs,
            max_epochs=1, batch_size=resolve_batch_size(self.batch_size, len(X)),
            device=device, seed=seed,
            verbose=self.verbose, callbacks=self.callbacks,
            mixed_precision=self.mixed_precision,
        )
        net.initialize()
        if resume is None:
            net.module_.load_state_dict(autoencoder.state_dict())
        phase = _DCNPhase(
            self, Xt, centers=torch.as_tensor(centers, device=device, dtype=TRAIN_DTYPE),
            counts=torch.full((self.n_clusters,), self.initial_count, dtype=torch.int64,
                              device=device),
            assignments=torch.as_tensor(labels, device=device))
        data = _TensorData(Xt, torch.arange(len(X), device=device))
        train(net, data, epochs=self.max_epochs, phase=phase, tol=self.tol,
              checkpoint=checkpoint, extra={"autoencoder": architecture}, resume=resume)

        # Final labels in X's dtype, as predict(X) computes them.
        Z = self._forward(net.module_.encoder, X, module=net.module_)
        backend = self._kmeans_backend(len(X))
        centers, _, _ = refine_kmeans(Z, to_numpy(phase.centers.to(Z.dtype)),
                                      backend=backend)
        centers, labels = self._final_assignment(Z, centers)
        return {
            "net_": net,
            "cluster_centers_": centers,
            "labels_": labels,
            "counts_": to_numpy(phase.counts),
            "history_": history_records(net),
            "n_iter_": len(net.history),
            "kmeans_backend_": backend,
            "init_": init_method,
        }

    def _embed_tensor(self, xb):
        return self.module_.encoder(xb)

    def score(self, X, y=None):
        """Negative DCN objective on ``X`` (higher is better).

        ``-(mean((X - X_hat)**2) + lam / 2 * mean_i min_k ||f(x_i) - mu_k||^2)``: the
        reconstruction error averaged over samples and features (the autoencoder's loss:
        by default the binary cross-entropy for data in [0, 1], else the Huber error; the
        cross-entropy raises a ``ValueError`` for ``X`` outside [0, 1]) plus
        ``lam / 2`` times the mean squared distance of each embedding to its nearest
        centre.

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
        check_scored_range(X, module.loss == "binary_cross_entropy")
        param = next(module.parameters())
        centers = torch.as_tensor(self.cluster_centers_, device=param.device,
                                  dtype=param.dtype)

        def terms(xb):
            x_hat, z = module(xb)
            return (row_reconstruction_loss(x_hat, xb, module.loss),
                    squared_distances(z, centers).min(1).values)

        rec, dist = self._forward(terms, X)
        return -(float(rec.sum()) / X.size + 0.5 * self.lam * float(dist.mean()))

"""DeepCluster: features learned by classifying their own k-means pseudo-labels."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import (MIN_IMAGE_SIDE, BaseDeepClusterer, check_image_shape,
                    resolve_batch_size, resolve_image_shape)
from ._data import training_data
from ._kmeans import cluster, nearest_center, pca_whitening, whiten_normalize
from ._losses import squared_distances
from ._training import (
    BatchStream,
    ClusteringPhase,
    DeepNet,
    FeatureNoise,
    ImageAugmentation,
    _TensorData,
    history_records,
    make_net,
    to_numpy,
    train,
)
from .nn import PseudoLabelClassifier

#: Default hidden widths of the MLP backbone and channels of the conv backbone.
_MLP_HIDDEN = (500, 500, 2000)
_CONV_CHANNELS = (32, 64, 128)

#: The final clustering into ``n_clusters`` keeps at most this many whitened directions
#: per ``n_clusters - 1`` (the most directions that separate ``n_clusters`` group means).
#: Whitening gives every kept direction unit variance, so directions beyond the classes'
#: own are noise with the same weight as the structure; with few clusters the
#: ``pca_dim`` of the pseudo-labelling (50 groups) is mostly such directions (measured on
#: standardised breast cancer and wine: see the CHANGELOG). From 9 clusters on the cap
#: is at least 16 and the default ``pca_dim`` is kept.
FINAL_DIRECTIONS_PER_CLUSTER = 2

#: ``n_pseudo_clusters="auto"``: ``min(PSEUDO_CLUSTERS, max(n_clusters, n_samples //
#: SAMPLES_PER_PSEUDO_CLUSTER))``, so that on small data each pseudo-cluster holds about
#: 25 samples or more on average. The uniform sampling over pseudo-labels draws a
#: pseudo-cluster of a dozen samples as often as any other, and on standardised breast
#: cancer (569 samples) 50 of them left DeepCluster at 0.878 over 15 seeds, against
#: 0.897 with the rule's 22 (1 thread; see the CHANGELOG).
PSEUDO_CLUSTERS = 50
SAMPLES_PER_PSEUDO_CLUSTER = 25

#: ``noise_scale="auto"`` with the MLP backbone: ``NOISE_SCALE["many"]`` standard
#: deviations for rows of at least :data:`MANY_FEATURES` features, ``NOISE_SCALE["few"]``
#: below. Noise drawn independently for each feature is averaged away by a network that
#: reads many correlated features (standardised pixels), so such rows need more of it.
#: The threshold is the size of the smallest images the package recognises (8 x 8).
NOISE_SCALE = {"few": 1.0, "many": 2.0}
MANY_FEATURES = MIN_IMAGE_SIDE ** 2

#: Batch size of ``batch_size="auto"`` with the MLP backbone, whatever the number of
#: samples (the conv backbone follows the autoencoders' rule, ``resolve_batch_size``).
MLP_BATCH_SIZE = 256


def uniform_label_indices(labels, n_samples, generator):
    """Sample indices so that every non-empty pseudo-label is drawn equally often.

    As the original DeepCluster sampler: each of the ``K`` non-empty clusters
    contributes ``n_samples // K + 1`` indices (its members without replacement when it
    has more than that, with replacement otherwise); the result is shuffled and cut to
    ``n_samples``. Large clusters are thus subsampled and small ones repeated, so the
    classifier cannot win by predicting the big clusters.

    Parameters
    ----------
    labels : int64 tensor of shape (n,)
        Pseudo-label of each sample (any device).
    n_samples : int
        Number of indices to return.
    generator : torch.Generator
        CPU generator the draws come from.

    Returns
    -------
    int64 tensor of shape (n_samples,), on the CPU.
    """
    labels = labels.cpu()
    n = len(labels)
    # Members grouped by label, in a random order within each group.
    shuffled = torch.randperm(n, generator=generator)
    grouped = shuffled[torch.argsort(labels[shuffled], stable=True)]
    counts = torch.bincount(labels)
    offsets = torch.cumsum(counts, 0) - counts
    present = torch.nonzero(counts).flatten()
    counts, offsets = counts[present, None], offsets[present, None]
    per_label = n_samples // len(present) + 1
    with_replacement = (torch.rand(len(present), per_label, generator=generator,
                                   dtype=torch.float64) * counts).long()
    without = torch.arange(per_label).expand(len(present), per_label)
    pos = torch.where(counts > per_label, without, torch.minimum(with_replacement,
                                                                 counts - 1))
    idx = grouped[(pos + offsets).flatten()]
    return idx[torch.randperm(len(idx), generator=generator)[:n_samples]]


class _UniformLabelStream(BatchStream):
    """A :class:`BatchStream` whose passes sample uniformly over the pseudo-labels ``y``."""

    def _draw_order(self):
        return uniform_label_indices(self.data.y, len(self.data), self.generator)


class _DeepClusterNet(DeepNet):
    """Cross-entropy on pseudo-labels and uniform sampling over them.

    The sampling draws from a generator seeded from ``seed`` that persists across
    epochs; the optional augmentation is :attr:`DeepNet.augment`.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return F.cross_entropy(y_pred, y_true)

    def _sample_generator(self):
        if getattr(self, "_sample_gen", None) is None:
            self._sample_gen = torch.Generator().manual_seed(self.seed)
        return self._sample_gen

    def get_iterator(self, dataset, training=False):
        if not training:
            return super().get_iterator(dataset, training=False)
        return _UniformLabelStream(dataset, self.batch_size, self._sample_generator())

    def stream_state(self):
        # Every epoch is one whole pass: the generators' states are the position.
        return {"sample": self._sample_generator().get_state(),
                "augment": self.augment_generator().get_state()}

    def load_stream_state(self, state):
        self._sample_generator().set_state(state["sample"])
        self.augment_generator().set_state(state["augment"])

    def reset_head(self):
        """Re-initialise the classifier and forget its optimizer state (momentum)."""
        self.module_.reset_head()
        # A zero momentum buffer is the same as none (SGD's first step sets it to the
        # gradient), and keeps every parameter's state alike, as the fused SGD needs.
        for p in self.module_.head.parameters():
            buffer = self.optimizer_.state.get(p, {}).get("momentum_buffer")
            if buffer is not None:
                buffer.zero_()

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_sample_gen", None)
        return state


class _DeepClusterPhase(ClusteringPhase):
    """DeepCluster's refresh: new pseudo-labels from the features of the whole data.

    As each epoch begins, the features are whitened, normalised and clustered into
    pseudo-labels (the epoch's training targets ``data.y``) and the classifier head is
    re-initialised; the epoch's history row records the ``kmeans_loss`` of these
    pseudo-labels and their NMI with the previous epoch's (``nmi_previous``, NaN for
    the first). The change of an epoch is ``1 - nmi_previous`` (the pseudo-labels of
    two k-means runs are numbered arbitrarily, so their NMI, not the fraction of
    labels changed, says how much the clustering moved; it is in the history as
    ``nmi_previous``): training stops after an epoch whose pseudo-labels were that
    close to the previous epoch's.
    """

    change_record = None
    progress_records = ("nmi_previous",)

    def __init__(self, estimator, Xt, data, k, n_components, rng):
        self.estimator, self.Xt, self.data = estimator, Xt, data
        self.k, self.n_components, self.rng = k, n_components, rng
        self.previous = None  # the pseudo-labels of the last epoch (numpy)
        self.nmi = math.nan

    def refresh(self, net):
        est = self.estimator
        features = est._pseudo_features(net, self.Xt)
        if not bool(torch.isfinite(features).all()):  # one host sync per epoch
            raise net._diverged("the features became non-finite")
        mean, components = pca_whitening(features, self.n_components)
        P = whiten_normalize(features, mean, components)
        pseudo, kmeans_loss = est._pseudo_labels(P, self.k,
                                                 int(self.rng.randint(2**31 - 1)))
        current = to_numpy(pseudo)
        self.nmi = (math.nan if self.previous is None
                    else float(normalized_mutual_info_score(self.previous, current)))
        net.history.record("kmeans_loss", kmeans_loss)
        net.history.record("nmi_previous", self.nmi)
        self.previous = current
        self.data.y = pseudo.to(self.Xt.device)
        net.reset_head()

    def measure(self, net):
        return None if math.isnan(self.nmi) else 1.0 - self.nmi

    def state_dict(self):
        return {"previous": self.previous, "nmi": self.nmi, "rng": self.rng.get_state()}

    def load_state_dict(self, state):
        self.previous, self.nmi = state["previous"], state["nmi"]
        self.rng.set_state(state["rng"])


class DeepClusterClusterer(BaseDeepClusterer):
    """DeepCluster (Caron et al., 2018): clustering as self-supervision.

    A network is trained from scratch (no autoencoder) by alternating two steps at every
    epoch. First the features of the whole dataset (the backbone's output, in eval mode)
    are PCA-whitened to ``pca_dim`` dimensions, L2-normalised and clustered by k-means
    into ``n_pseudo_clusters`` groups (empty clusters are reseeded); these are the
    pseudo-labels. Then a linear classifier, re-initialised at every epoch, is trained
    with the backbone for one pass to predict the pseudo-labels (cross-entropy; SGD with
    momentum 0.9), with mini-batches sampled uniformly over the pseudo-labels so that
    large clusters do not dominate. The NMI between the pseudo-labels of consecutive
    epochs measures how stable the clustering has become. At the end, k-means with
    ``n_clusters`` on the processed (whitened, normalised) features of the trained
    backbone gives ``labels_``, in at most ``2 * (n_clusters - 1)`` of the whitened
    directions; new data goes through the same backbone, whitening and normalisation to
    the nearest final centre.

    With ``image_shape=(C, H, W)`` the rows of ``X`` are flattened images (row-major, as
    ``numpy.reshape``) and the backbone is a small conv net, trained on lightly augmented
    images (random shifts, rotations and zooms) when ``augment=True``; otherwise the
    backbone is an MLP, trained on rows with Gaussian noise added when ``augment=True``.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of final clusters.
    n_pseudo_clusters : int or "auto", default="auto"
        Number of k-means clusters during training (the number of classes of the
        pseudo-label classifier); independent of ``n_clusters`` and usually larger
        (over-clustering). Capped at the number of samples. ``"auto"``:
        ``min(50, max(n_clusters, n_samples // 25))``, that is 50 from 1,250 samples on
        and about 25 samples per pseudo-cluster below (but not fewer pseudo-clusters
        than ``n_clusters``, up to 50). On USPS (conv backbone, 5 epochs, 3 seeds) 50
        gave NMI 0.875 against 0.857 for 100 and 0.817 for 10 (one seed); on small data,
        where 50 are a few samples each, every training batch oversamples them
        (standardised breast cancer, 569 samples: ACC 0.878 with 50, 0.897 with the
        rule's 22, 15 seeds, 1 thread).
    image_shape : "auto", tuple of int (C, H, W) or None, default="auto"
        Shape of one image when the rows of ``X`` are flattened images: turns on the conv
        backbone. ``C * H * W`` must equal the number of features. ``"auto"`` takes rows
        of ``s * s`` values, ``s >= 8``, with every value in [0, 1] as single-channel
        ``s x s`` images (as :class:`AutoEncoder` does) and anything else as not
        images (the MLP backbone); None: the MLP backbone always.
    hidden_dims : tuple of int or None, default=None
        Widths of the hidden layers of the MLP backbone (None: ``(500, 500, 2000)``),
        or, with ``image_shape``, the channels of the conv blocks (None:
        ``(32, 64, 128)``).
    latent_dim : int, default=128
        Dimension of the features (the embedding given by ``transform``).
    pca_dim : int or None, default=16
        Dimension after PCA-whitening of the features before k-means (for the
        pseudo-labels and for the final clusters); never more than ``latent_dim`` nor
        ``n_samples - 1``, and for the final clusters never more than
        ``2 * (n_clusters - 1)``. None is the paper's ``min(256, latent_dim)``, which
        was designed for 4096-d features and 10,000 clusters: whitening every direction
        of a small embedding gives noise as much weight as structure, and on USPS (3
        epochs) 16 dimensions reached ACC 0.81 / NMI 0.83 against 0.52 / 0.70 with all
        128. For the same reason the final clustering keeps at most twice as many
        directions as can separate ``n_clusters`` groups (``n_clusters - 1``).
    augment : bool, default=True
        Augment the training batches, so that the classifier has to learn features that
        hold under small changes of a sample (DeepCluster's clusters are of features
        that its own training shaped). With the conv backbone: random shifts, rotations
        and zooms of the images. With the MLP backbone (rows that are not images):
        additive Gaussian noise of ``noise_scale`` standard deviations of each feature,
        measured in the batch (:func:`~skdeepcluster.nn.feature_noise`); without it
        the classifier only learns to reproduce the clusters of its random initial
        features (on standardised USPS DeepCluster then stayed below KMeans on the
        pixels). The features that are clustered are always those of the rows
        themselves.
    noise_scale : float or "auto", default="auto"
        Standard deviation of that Gaussian noise, in standard deviations of each
        feature within the batch (MLP backbone only; images are shifted, rotated and
        zoomed instead). ``"auto"``: 2 for rows of 64 features or more, 1 for fewer.
        Noise drawn independently for each feature is averaged away by a network that
        reads many correlated features (standardised pixels, spectra), so such data
        needs more of it: 2 clustered standardised digits, USPS and MNIST clearly
        better than 1, which stays below KMeans on standardised MNIST. On small tabular
        data 1 is the safer choice: 2 was a little worse on scikit-learn's wine (13
        features), and 3 made some seeds collapse on breast cancer (30)
        (``deepcluster_noise.md`` on the benchmarks page).
    max_epochs : int, default=20
        Number of epochs (each: one clustering of the whole dataset and one pass of
        training on its pseudo-labels).
    batch_size : int or "auto", default="auto"
        Samples per gradient step. ``"auto"``: with the conv backbone the
        autoencoder-based estimators' rule (64 below 5,000 samples, else 256), because
        an epoch of small image data at 256 is a handful of gradient steps and the
        backbone stays under-trained (on scikit-learn's 1,797 digits 64 gave a far
        better and steadier clustering than 256); with the MLP backbone always 256,
        because on small tabular data the longer training drifts away from the data's
        own clusters (standardised breast cancer and wine lost accuracy at 64).
    input_scale : float or None, default=None
        Factor every value of ``X`` is multiplied by as it is read, batch by batch
        (after the cast to the network's floating dtype), in ``fit`` and in every other
        method: ``1/255`` turns ``uint8`` pixels into [0, 1] without a scaled copy of
        the data, which a ``Pipeline`` scaler would make (and out-of-core data cannot
        afford). None uses ``X`` as given. A plain factor rather than an ``"auto"`` rule
        (say, 1/255 for ``uint8``): the dtype does not say what the data is.
    lr : float, default=0.05
        Learning rate of SGD (momentum 0.9).
    weight_decay : float, default=1e-5
        L2 penalty of SGD.
    tol : float, default=0.0
        Stop when the NMI between the pseudo-labels of two consecutive epochs exceeds
        ``1 - tol``. The default runs all ``max_epochs``.
    n_init : int, default=20
        Number of runs of the final k-means with ``n_clusters``. The clustering into
        pseudo-labels runs once per epoch (as the paper).
    kmeans_backend : {"auto", "sklearn", "torch", "faiss"}, default="auto"
        The k-means of the per-epoch clustering into pseudo-labels (one run of 20
        iterations) and of the final clustering into ``n_clusters``. ``"sklearn"``:
        :class:`sklearn.cluster.KMeans`. ``"torch"``: the package's k-means in torch, on
        ``device`` (random-row starts for the pseudo-labels, as the paper, k-means++ for
        the final clusters; distances computed in blocks of bounded memory, under 200 MB
        beyond the features for a million samples into 10,000 clusters). ``"faiss"``:
        faiss's k-means, the paper's choice (float32 on the CPU, random starts; install
        ``pip install "skdeepcluster[faiss]"``). ``"auto"`` runs the pseudo-labels with
        scikit-learn's k-means on the CPU and with torch's on other devices (the
        features stay there), and the final clustering with scikit-learn's; either
        switches to torch when ``n_samples`` times its number of clusters exceeds
        10**8. It never depends on what is installed, so installing faiss does not
        change results. Every backend gives labels that are the nearest centres, with
        empty clusters reseeded.
    mixed_precision : bool or "auto", default="auto"
        bfloat16 autocast in training forward passes and in the feature pass that feeds
        the pseudo-labelling. ``"auto"`` turns it on where the device runs bfloat16
        natively (CPUs with AVX512-BF16 or AMX, CUDA devices of compute capability 8.0
        and newer), where it is 2-3x faster for the default network, and off elsewhere,
        where emulated bfloat16 is slower than float32. The network trains in float32
        whatever the dtype of ``X``; the final features and outputs are in the dtype of
        ``X`` (float64 data is embedded in float64).
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"`` or a :class:`torch.device`.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, sampling, augmentation and k-means. Global RNG state is
        never touched.
    checkpoint : str, os.PathLike or None, default=None
        Directory in which the fit keeps its state, so that ``fit`` called again on the
        same data with the same parameters (after Ctrl-C, a crash or a killed process)
        resumes where it stood, with the result of an uninterrupted fit on the CPU, and
        returns a finished fit at once (see ``resumed_from_`` and the user guide). The
        state is written every ``checkpoint_every`` epochs and at the end, atomically,
        to ``<checkpoint>/DeepClusterClusterer-<fingerprint>.ckpt``: one file per
        fingerprint of the data and of the parameters other than ``checkpoint``,
        ``checkpoint_every``, ``verbose`` and ``callbacks``, so that fits of other data
        or parameters (e.g. in ``GridSearchCV``) never share it. Files are read with
        pickle: only use a directory you trust.
    checkpoint_every : int, default=1
        Epochs between two writes of the checkpoint.
    verbose : int, default=0
        0: silent. 1: one progress display for the whole fit (phase, epoch, loss,
        label change, elapsed and remaining time): a ``tqdm`` bar on a terminal or in
        Jupyter, plain lines on standard error elsewhere (logs, CI). 2: skorch's
        per-epoch tables and per-batch progress bars instead.
    callbacks : list of skorch callbacks, default=None
        Passed to the skorch net (copied, never modified).

    Attributes
    ----------
    image_shape_ : tuple of int or None
        The image shape of the conv backbone (``image_shape`` with ``"auto"``
        resolved); None for the MLP backbone.
    cluster_centers_ : ndarray of shape (n_clusters, n_components)
        Final cluster centres in the processed feature space (after whitening and
        normalisation; ``n_components`` is the effective ``pca_dim``, at most
        ``2 * (n_clusters - 1)`` and at least 1).
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (its nearest centre: what ``predict`` gives on
        the training data).
    pca_mean_ : ndarray of shape (latent_dim,)
        Mean of the training features.
    pca_components_ : ndarray of shape (n_components, latent_dim)
        Whitening projection: the principal axes of the training features, each divided
        by the square root of its variance. The processed features of ``Z =
        transform(X)`` are the rows of ``(Z - pca_mean_) @ pca_components_.T`` scaled
        to unit norm.
    temperature_ : float
        Mean squared distance of the processed training features to their centre: the
        temperature of ``predict_proba``.
    n_iter_ : int
        Number of epochs run.
    history_ : list of dict
        One record per epoch: ``train_loss`` (cross-entropy on the pseudo-labels),
        ``kmeans_loss`` (mean squared distance of the processed features to their
        pseudo-label centre), ``nmi_previous`` (NMI between this epoch's pseudo-labels
        and the previous epoch's; NaN in the first record), ``dur``.
    kmeans_backend_ : str
        The k-means backend the fit used: ``kmeans_backend``, with ``"auto"``
        resolved (for the pseudo-labels).
    resumed_from_ : dict or None
        None when the fit ran from the start; otherwise where it resumed from its
        ``checkpoint``: ``{"path": file, "stage": stage, "epoch": n}``, ``stage`` being
        ``"clustering"`` or ``"finished"`` (the file held a finished fit, returned as it
        was) and ``n`` the epochs of that stage the file held. ``history_`` lists every
        epoch, those run before the interruption included.
    net_ : skorch.NeuralNet
        The trained skorch net; ``module_`` is its module (``module_.features`` is the
        backbone, ``module_.head`` the last pseudo-label classifier).
        ``net_.forward(X)`` returns the head's logits over the pseudo-labels of the
        last epoch, rows in the order of ``X``.
    device_ : torch.device
        The device the model was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit (only when X has string column names).

    See Also
    --------
    DECClusterer : Deep embedded clustering, from a pretrained autoencoder.
    sklearn.cluster.KMeans : k-means on the raw features.

    Notes
    -----
    The clustering at each epoch is one run of k-means of 20 iterations, as the paper's
    faiss k-means; with ``kmeans_backend="auto"`` it runs scikit-learn's k-means on the
    CPU, and a k-means in torch on the training device otherwise, so that the features
    stay on the GPU. At the paper's scale (a million images into 10,000
    pseudo-clusters) ``"auto"`` runs the torch k-means on any device, in bounded
    memory; ``kmeans_backend="faiss"`` is the paper's choice.

    References
    ----------
    M. Caron, P. Bojanowski, A. Joulin and M. Douze. "Deep Clustering for Unsupervised
    Learning of Visual Features." ECCV 2018.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DeepClusterClusterer
    >>> X, _ = make_blobs(n_samples=200, centers=3, n_features=5, random_state=0)
    >>> dc = DeepClusterClusterer(n_clusters=3, n_pseudo_clusters=10, hidden_dims=(32,),
    ...                           latent_dim=8, max_epochs=5, random_state=0)
    >>> labels = dc.fit_predict(X.astype("float32"))
    >>> labels.shape, dc.transform(X.astype("float32")).shape
    ((200,), (200, 8))
    >>> bool((labels == dc.predict(X.astype("float32"))).all())
    True
    """

    _parameter_constraints: dict = {
        **BaseDeepClusterer._parameter_constraints,
        "n_pseudo_clusters": [Interval(Integral, 1, None, closed="left"),
                              StrOptions({"auto"})],
        "image_shape": [tuple, list, StrOptions({"auto"}), None],
        "hidden_dims": [tuple, list, None],
        "pca_dim": [Interval(Integral, 1, None, closed="left"), None],
        "augment": ["boolean"],
        "noise_scale": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_clusters=8, *, n_pseudo_clusters="auto", image_shape="auto",
                 hidden_dims=None, latent_dim=128, pca_dim=16, augment=True,
                 noise_scale="auto", max_epochs=20, batch_size="auto",
                 input_scale=None, lr=0.05, weight_decay=1e-5, tol=0.0,
                 n_init=20, kmeans_backend="auto", mixed_precision="auto", device="auto",
                 random_state=None, checkpoint=None, checkpoint_every=1, verbose=0,
                 callbacks=None):
        self.n_clusters = n_clusters
        self.n_pseudo_clusters = n_pseudo_clusters
        self.image_shape = image_shape
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.pca_dim = pca_dim
        self.augment = augment
        self.noise_scale = noise_scale
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.input_scale = input_scale
        self.lr = lr
        self.weight_decay = weight_decay
        self.tol = tol
        self.n_init = n_init
        self.kmeans_backend = kmeans_backend
        self.mixed_precision = mixed_precision
        self.device = device
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.verbose = verbose
        self.callbacks = callbacks

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the backbone on its own pseudo-labels, then cluster its features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, of any numeric dtype (the network trains in float32): in
            memory, or larger than memory as a :class:`numpy.memmap`, an h5py dataset,
            a zarr array or a Dask array, read batch by batch. With
            ``image_shape``, each row is one flattened image.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : DeepClusterClusterer
            The fitted estimator.
        """
        return self._fit_validated(X)

    # -- fit ---------------------------------------------------------------------------
    def _check_fit_data(self, X):
        super()._check_fit_data(X)
        check_image_shape(self.image_shape, X.shape[1])

    def _module_kwargs(self, n_features, n_classes, image_shape):
        hidden = self.hidden_dims
        if hidden is None:
            hidden = _MLP_HIDDEN if image_shape is None else _CONV_CHANNELS
        return dict(n_features=n_features, n_classes=n_classes, hidden_dims=tuple(hidden),
                    latent_dim=self.latent_dim, image_shape=image_shape)

    def _n_components(self, n_samples):
        """Whitened dimensions of the pseudo-labelling: the effective ``pca_dim``."""
        pca_dim = min(256, self.latent_dim) if self.pca_dim is None else self.pca_dim
        return max(1, min(pca_dim, self.latent_dim, n_samples - 1))

    def _final_components(self, n_samples):
        """Whitened dimensions of the final clustering: the effective ``pca_dim``, at
        most :data:`FINAL_DIRECTIONS_PER_CLUSTER` times ``n_clusters - 1`` (at least 1)."""
        return max(1, min(self._n_components(n_samples),
                          FINAL_DIRECTIONS_PER_CLUSTER * (self.n_clusters - 1)))

    def _n_pseudo_clusters(self, n_samples):
        """The effective ``n_pseudo_clusters`` (``"auto"``: :data:`PSEUDO_CLUSTERS`, or
        fewer on small data, see :data:`SAMPLES_PER_PSEUDO_CLUSTER`), at most
        ``n_samples``."""
        k = self.n_pseudo_clusters
        if isinstance(k, str):
            k = min(PSEUDO_CLUSTERS,
                    max(self.n_clusters, n_samples // SAMPLES_PER_PSEUDO_CLUSTER))
        return min(k, n_samples)

    def _noise_scale(self, n_features):
        """The effective ``noise_scale`` (``"auto"``: see :data:`NOISE_SCALE`)."""
        if self.noise_scale == "auto":
            return NOISE_SCALE["many" if n_features >= MANY_FEATURES else "few"]
        return float(self.noise_scale)

    def _batch_size(self, n_samples, image_shape):
        """The effective ``batch_size``: ``"auto"`` is the autoencoders' rule with the
        conv backbone and :data:`MLP_BATCH_SIZE` with the MLP backbone."""
        if image_shape is None and isinstance(self.batch_size, str):
            return MLP_BATCH_SIZE
        return resolve_batch_size(self.batch_size, n_samples)

    def _fit(self, X, device, seed, checkpoint=None):
        image_shape = resolve_image_shape(self.image_shape, X)
        Xt = training_data(X, device)
        n = len(X)
        k = self._n_pseudo_clusters(n)
        net = make_net(
            _DeepClusterNet, PseudoLabelClassifier,
            self._module_kwargs(X.shape[1], k, image_shape),
            optimizer=torch.optim.SGD, lr=self.lr,
            optimizer_kwargs={"momentum": 0.9, "weight_decay": self.weight_decay},
            max_epochs=1, batch_size=self._batch_size(n, image_shape), device=device,
            seed=seed,
            verbose=self.verbose, callbacks=self.callbacks,
            mixed_precision=self.mixed_precision,
        )
        if self.augment:
            net.augment = (FeatureNoise(self._noise_scale(X.shape[1]))
                           if image_shape is None else ImageAugmentation(image_shape))
        net.initialize()

        rng = np.random.RandomState(seed)
        n_components = self._n_components(n)
        phase = _DeepClusterPhase(self, Xt, _TensorData(Xt), k, n_components, rng)
        train(net, phase.data, epochs=self.max_epochs, phase=phase, tol=self.tol,
              checkpoint=checkpoint,
              resume=None if checkpoint is None else checkpoint.resume("clustering"))

        module = net.module_
        # Final features in X's dtype, as predict(X) computes them.
        features = self._forward(module.features, X, module=module)
        mean, components = pca_whitening(features, self._final_components(n))
        P = whiten_normalize(features, mean, components)
        centers, _, _ = cluster(P, self.n_clusters, backend=self._kmeans_backend(n),
                                n_init=self.n_init, seed=int(rng.randint(2**31 - 1)))
        centers, labels = self._final_assignment(P, centers)
        d2 = ((to_numpy(P) - centers[labels]) ** 2).sum(1)
        return {
            "net_": net,
            "cluster_centers_": centers,
            "labels_": labels,
            "pca_mean_": to_numpy(mean),
            "pca_components_": to_numpy(components),
            "temperature_": max(float(d2.mean()), 1e-12),
            "history_": history_records(net),
            "n_iter_": len(net.history),
            "kmeans_backend_": self._kmeans_backend(n, k, device, on_device=True),
            "image_shape_": image_shape,
        }

    def _pseudo_features(self, net, Xt):
        """Features of the whole dataset in eval mode (bfloat16 with mixed precision)."""
        module = net.module_
        return self._forward(module.features, Xt, module=module,
                             autocast=net.mixed_precision)

    def _pseudo_labels(self, P, k, seed):
        """k-means of the processed features: ``(labels tensor, loss)``.

        One run of 20 iterations, with the backend of ``kmeans_backend`` (``"auto"``:
        scikit-learn's on the CPU, the torch k-means on other devices, so that the
        features stay there). Every cluster is non-empty as far as the data allows
        (empty ones are reseeded); ``loss`` is the mean squared distance to the
        assigned centre.
        """
        backend = self._kmeans_backend(len(P), k, P.device, on_device=True)
        with warnings.catch_warnings():
            # Fewer distinct points than clusters: handled (empty clusters are
            # skipped by the sampler), not the user's concern.
            warnings.simplefilter("ignore", ConvergenceWarning)
            # Distinct random rows start the run, as in the paper (faiss); scikit-learn
            # keeps its k-means++ start.
            _, labels, inertia = cluster(
                P, k, backend=backend, n_init=1, seed=seed, max_iter=20,
                init="k-means++" if backend == "sklearn" else "random")
        return torch.from_numpy(labels), inertia / len(P)

    # -- inference ---------------------------------------------------------------------
    def _embed_tensor(self, xb):
        return self.module_.features(xb)

    def _processed(self, Z):
        mean = torch.as_tensor(self.pca_mean_, device=Z.device, dtype=Z.dtype)
        components = torch.as_tensor(self.pca_components_, device=Z.device, dtype=Z.dtype)
        return whiten_normalize(Z, mean, components)

    def _assign(self, Z):
        centers = torch.as_tensor(self.cluster_centers_, device=Z.device, dtype=Z.dtype)
        return to_numpy(nearest_center(self._processed(Z), centers))

    def _squared_distances(self, X):
        X = self._validate_for_inference(X)
        P = self._processed(self._embed(X))
        centers = torch.as_tensor(self.cluster_centers_, device=P.device, dtype=P.dtype)
        return X, torch.cat([squared_distances(P[i:i + 4096], centers)
                             for i in range(0, len(P), 4096)])

    def predict_proba(self, X):
        """Soft assignment to the final clusters.

        A softmax of the negative squared distances to the final centres in the
        processed feature space, divided by the temperature ``temperature_`` (the mean
        squared distance of the training samples to their centre):
        ``p_ij ∝ exp(-||u_i - c_j||^2 / temperature_)``, ``u_i`` being the whitened,
        normalised features of ``x_i``. The argmax of each row is ``predict``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Rows sum to one; in the dtype of ``X``.
        """
        X, d2 = self._squared_distances(X)
        return to_numpy(torch.softmax(-d2 / self.temperature_, dim=1), X.dtype)

    def score(self, X, y=None):
        """Negative k-means objective of the final clusters on ``X`` (higher is better).

        Minus the mean squared distance of the processed features of each sample to its
        nearest final centre.

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
        _, d2 = self._squared_distances(X)
        return -float(d2.min(1).values.mean())

    @property
    def _n_features_out(self):
        return self.pca_mean_.shape[0]

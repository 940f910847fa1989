"""Variational Deep Embedding (VaDE): a VAE with a Gaussian-mixture prior."""

import math
import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import LRScheduler

from ._base import (
    CLUSTERING_STEPS,
    check_scored_range,
    check_unit_interval,
    epochs_within,
    in_unit_interval,
    resolve_batch_size,
)
from ._data import take_rows, training_data
from ._pretraining import AutoEncoderClusterer, autoencoder_kwargs
from ._training import (
    BatchStream,
    ClusteringPhase,
    DeepNet,
    _TensorData,
    all_finite,
    forward_chunks,
    history_records,
    make_net,
    to_numpy,
    train,
)
from ._losses import gmm_log_joint
from .nn import AutoEncoderModule, VaDEModule
from .nn._vade import bernoulli_logit_scale, clamp_log_var, mlp_dims

#: Rows used to fit the Bernoulli logit scale / the Gaussian decoder variance at the start.
_INIT_ROWS = 4096
#: q(z | x) starts with this fraction of the mixture components' mean variance.
_ENCODER_VAR_FRACTION = 0.1
#: The loss of the pretraining VaDE runs (``autoencoder=None``) for each likelihood: the
#: reconstruction term of the ELBO, so that the pretrained decoder is already VaDE's;
#: for a Gaussian decoder with linear tails beyond residuals of 1 (``"huber"``; on data
#: in [0, 1] nearly the squared error), which on standardised data kept rare values far
#: out from dominating the pretraining.
_PRETRAINING_LOSS = {"bernoulli": "binary_cross_entropy", "gaussian": "huber"}

#: Epochs of the ``max_epochs="auto"`` clustering phase on data too small to reach the
#: shared :data:`~skdeepcluster._base.CLUSTERING_STEPS` gradient steps sooner. VaDE's
#: labels keep moving by more than ``tol`` long after its accuracy has settled: on
#: USPS (seeds 0 and 1) the phase never met ``tol`` in 100 epochs, and its accuracy
#: after 40 epochs was within 0.002 of the end; on scikit-learn's digits (seeds 0-4)
#: the same, where the phase ran 45-76 epochs; on standardised USPS the accuracy peaked
#: near epoch 20 and then declined (0.010 higher after 40 epochs than after 100). On
#: 20,000 MNIST images it still crept up (0.914 after 40, 0.919 after 76 epochs), a
#: trade of the size taken at 22 epochs on MNIST-70k, which the steps bound first.
VADE_MAX_EPOCHS = 40


def lr_factor(step, steps_per_epoch, warmup_steps):
    """Multiplier of the learning rates at optimisation step ``step`` (counted from 0).

    VaDE's schedule, ×0.9 every 10 epochs down to a tenth of the initial rate (the
    paper's code decays Adam's 0.002 by 0.9 every 10 epochs with a floor of 0.0002),
    preceded by a linear warm-up over the first ``warmup_steps`` steps. A module-level
    function (bound with ``functools.partial``) so that fitted models pickle.
    """
    factor = max(0.9 ** (step // steps_per_epoch // 10), 0.1)
    if step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return factor


def _partition_moments(Z, labels, n_clusters, reg_covar=1e-6):
    """Weights, means and diagonal variances of the clusters ``labels`` of ``Z``.

    What an EM M-step computes from hard assignments. Variances get ``reg_covar`` added
    (as :class:`~sklearn.mixture.GaussianMixture`'s); a cluster of fewer than two points
    takes the variance of the whole data, an empty one (only possible with fewer
    distinct points than clusters) also a tiny weight and the overall mean.
    """
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    overall_mean, overall_var = Z.mean(0), Z.var(0)
    means = np.tile(overall_mean, (n_clusters, 1))
    variances = np.tile(overall_var, (n_clusters, 1))
    for j in np.flatnonzero(counts):
        members = Z[labels == j]
        means[j] = members.mean(0)
        if len(members) > 1:
            variances[j] = members.var(0)
    weights = np.maximum(counts, 1e-3)
    return weights / weights.sum(), means, variances + reg_covar


def _kmeans_moments(Z, labels, n_clusters, reg_covar=1e-6):
    """The k-means model of the clusters ``labels`` of ``Z``, as a Gaussian mixture.

    Equal weights, the clusters' means (as :func:`_partition_moments`) and one spherical
    variance shared by every component: the within-cluster variance of
    :func:`_partition_moments`, averaged over the clusters (weighted by their sizes) and
    the dimensions. Such a mixture's most probable component of a point is its nearest
    mean, so the start assigns points as k-means does; the clustering phase then learns
    each component's weight and diagonal variance. An empty cluster (possible when the
    labels come from a Gaussian mixture) sits at the overall mean, as in
    :func:`_partition_moments`, with a tiny weight (a thousandth of the others') so that
    it does not take the points near that mean.
    """
    _, means, variances = _partition_moments(Z, labels, n_clusters, reg_covar)
    counts = np.bincount(labels, minlength=n_clusters)
    pooled = float(((variances * counts[:, None]).sum(0) / counts.sum()).mean())
    weights = np.where(counts > 0, 1.0, 1e-3)
    return weights / weights.sum(), means, np.full_like(variances, pooled)


class _VaDENet(DeepNet):
    """The negative ELBO of a batch (one reparameterised sample of ``z`` per point)."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return -self.module_.elbo(X, *y_pred).mean()


class _VaDEPhase(ClusteringPhase):
    """VaDE's refresh: every training sample's most probable component.

    The labels ``argmax_c p(c | mu(x))`` of the whole training set are computed before
    the first epoch and after each; the change of an epoch is the fraction of them that
    changed.
    """

    def __init__(self, Xt):
        self.Xt = Xt
        self.labels = None

    def current_labels(self, net):
        module = net.module_
        param = next(module.parameters())
        log_joint = forward_chunks(lambda xb: module.prior.log_joint(module.embed(xb)),
                                   self.Xt, module=module, device=param.device,
                                   dtype=param.dtype, autocast=net.mixed_precision)
        if not all_finite(log_joint):
            raise net._diverged("the cluster posteriors became non-finite")
        return log_joint.argmax(1)

    def refresh(self, net):
        if self.labels is None:  # the first epoch
            self.labels = self.current_labels(net)

    def measure(self, net):
        labels = self.current_labels(net)
        change = float((labels != self.labels).float().mean())
        self.labels = labels
        return change

    def state_dict(self):
        return {"labels": self.labels}

    def load_state_dict(self, state):
        self.labels = state["labels"]


class VaDEClusterer(AutoEncoderClusterer):
    """Variational Deep Embedding (Jiang et al., 2017): a VAE with a Gaussian-mixture prior.

    The generative model draws a cluster ``c ~ Cat(pi)``, an embedding
    ``z ~ N(mu_c, diag(sigma_c^2))`` and the data ``x ~ p(x | z)`` through the decoder,
    Bernoulli for data in [0, 1] and Gaussian otherwise. The encoder gives
    ``q(z | x) = N(mu(x), diag(sigma^2(x)))`` and the cluster posterior is
    ``gamma_c = p(c | z)``. Encoder, decoder and mixture are trained together by
    maximising the evidence lower bound (ELBO) with one reparameterised sample of ``z``
    per point and every log-sum computed with log-sum-exp.

    Training starts from an autoencoder pretrained on ``X`` (the mean head is its
    embedding layer; the log-variance head is new and starts small) and from a Gaussian
    mixture with diagonal covariances fitted to the initial clusters of its embedding
    (k-means, or Ward's linkage for images: ``init``): each cluster gives a component's
    weight, mean and variances. This is not EM to convergence, which on MNIST moved away
    from the classes: from the k-means partitions of the three benchmark seeds (accuracy
    0.922 / 0.918 / 0.920) the fitted Gaussians give 0.931 / 0.927 / 0.929, and 100 EM
    iterations from them 0.895 / 0.920 / 0.899; mixtures fitted by
    :class:`~sklearn.mixture.GaussianMixture` from its own starts, chosen by likelihood,
    gave anything from 0.78 to 0.92 on one embedding. The pretraining uses the
    reconstruction term of the ELBO as its loss: the binary cross-entropy for a
    Bernoulli decoder, the squared error (with linear tails beyond residuals of 1,
    ``loss="huber"``) for a Gaussian one, so that the pretrained decoder already is
    VaDE's decoder. This matters: on MNIST (seed 1, both runs with ``prior_lr=lr``) a
    squared-error pretraining gave an initial mixture of accuracy 0.885 that VaDE
    training lowered to 0.857 in 30 epochs, while the cross-entropy pretraining (same
    network, optimizer and epochs) gave 0.920 and VaDE raised it to 0.940. The
    clustering phase runs Adam with ``lr`` for the encoder and decoder and ``prior_lr``
    (ten times lower by default) for the mixture parameters, both multiplied by 0.9
    every 10 epochs down to a tenth of their initial values, until fewer than a fraction
    ``tol`` of the labels change over an epoch or for ``max_epochs`` epochs. The slower
    mixture keeps the components on the clusters they started from while the encoder
    gathers their points: on MNIST a mixture learned at ``lr`` ended at accuracy 0.894 /
    0.944 / 0.940 on three seeds (seed 0 drifting away from its start at 0.931 while the
    ELBO improved), at ``lr / 10`` at 0.935 / 0.935 / 0.938 from the same pretrainings.
    The rates rise linearly to their initial values over the first epoch: the ELBO is a
    new objective for the pretrained network, and full-size Adam steps from the start
    scramble its embedding (on USPS they left half the components without points after
    one epoch).

    Predictions are deterministic: ``predict_proba`` is ``p(c | z)`` at the posterior
    mean ``z = mu(x)`` (not a sample), ``predict`` its argmax and ``transform`` gives
    ``mu(x)``.

    Robustness. A non-finite loss, parameter or posterior stops training with a
    ``FloatingPointError`` naming the epoch. Collapse, the known failure of VaDE in which
    most components lose all their points, is detected after training: when at most
    half of the components (all but one for ``n_clusters=2``) still hold training
    points, training is restarted once from the same pretrained state and mixture with a
    ten times lower learning rate; if that run collapses too a ``ConvergenceWarning``
    says so. Components left without any training point are then reseeded, as the
    package reseeds empty k-means clusters: an empty component takes half the weight of
    the component of the worst-explained point (lowest ``p(z)``, among clusters with
    more than one point), is centred on it and, if needed, narrowed until it claims it.
    So ``labels_`` hold every value ``0..n_clusters-1`` (as far as the data has distinct
    points). Log-variances are clamped to [-16, 16].

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (mixture components).
    hidden_dims : tuple of int or "auto", default="auto"
        Hidden layer widths of the encoder (the decoder mirrors them). ``"auto"``: the
        papers' (500, 500, 2000) for 5,000 samples or more, (256, 256, 512) for fewer
        (small data trains faster and clustered better with the smaller network).
    latent_dim : int, default=10
        Dimension of the embedding ``z``.
    likelihood : {"auto", "bernoulli", "gaussian"}, default="auto"
        Distribution of ``p(x | z)``. ``"bernoulli"`` needs every value of ``X`` in
        [0, 1] (e.g. pixels divided by 255; values in between are used as soft targets,
        as the paper does); ``"gaussian"`` is an isotropic Gaussian whose variance is
        learned with the rest. ``"auto"`` picks Bernoulli when every value of ``X`` lies
        in [0, 1], Gaussian otherwise.
    pretrain_epochs : int or "auto", default="auto"
        Epochs of autoencoder pretraining (ignored when ``autoencoder`` is fitted).
        ``"auto"``: 100, or fewer for large data so that pretraining takes at most
        14,000 gradient steps (see :class:`AutoEncoder`'s ``max_epochs``).
    max_epochs : int or "auto", default="auto"
        Maximum passes over the data in the clustering phase. ``"auto"``: 40, or
        fewer for large data so that the phase takes at most 6,000 gradient steps
        (22 epochs on 70,000 samples at batch size 256). Every epoch costs a pass
        over the encoder, the decoder and the mixture and one over the encoder for
        the labels. The labels rarely change by less than ``tol`` over an epoch, so
        the phase usually runs its whole length, although on scikit-learn's digits and
        on USPS the accuracy had settled within 40 epochs; on MNIST-like data it
        still creeps up past 40 epochs or 6,000 steps, by about as much as it differs
        between seeds, while each further epoch adds as much time as a pretraining
        epoch.
    batch_size : int or "auto", default="auto"
        Samples per gradient step (pretraining and clustering). ``"auto"``: 256 for
        5,000 samples or more, 64 for fewer (more gradient steps per pass over small
        data).
    input_scale : float or None, default=None
        Factor every value of ``X`` is multiplied by as it is read, batch by batch
        (after the cast to the network's floating dtype), in ``fit`` and in every other
        method: ``1/255`` turns ``uint8`` pixels into [0, 1] without a scaled copy of
        the data, which a ``Pipeline`` scaler would make (and out-of-core data cannot
        afford). The ``"auto"`` choices that depend on the range of ``X``
        (``likelihood``, and the pretraining's optimizer) see the scaled values. None
        uses ``X`` as given. A plain factor rather than an ``"auto"`` rule (say, 1/255
        for ``uint8``): the dtype does not say what the data is. :meth:`sample` returns
        data in the units of ``X``.
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
    lr : float, default=5e-4
        Initial Adam learning rate of the encoder and decoder in the clustering phase.
        The paper's code uses 0.002; on MNIST (seed 0, the default cross-entropy
        pretraining, the mixture learned at the same rate) 0.002 lowered the accuracy
        of the initial mixture from 0.922 to 0.832 within 16 epochs, while 5e-4 raised
        it to 0.925 (with a squared-error pretraining: 0.883 to 0.82 within 10 epochs,
        against 0.874 with 5e-4).
    prior_lr : float or None, default=5e-5
        Initial Adam learning rate of the mixture parameters (weights, means and
        variances); None: ``lr``. Ten times below ``lr`` by default (see above): on
        MNIST (seed 0) the mixture learned at ``lr`` moved away from the classes
        (accuracy 0.931 at the start, 0.909 after 30 epochs, 0.894 after 100), at
        ``lr / 10`` it did not (0.930 after 30 epochs, 0.935 after 100).
    pretrain_lr : float or "auto", default="auto"
        Learning rate of the autoencoder pretraining, whose optimizer is chosen as
        :class:`AutoEncoder`'s ``optimizer="auto"`` (SGD for data in [0, 1] with 5,000
        samples or more, else Adam); ``"auto"`` is that optimizer's default (1.0 for
        SGD, 1e-3 for Adam). The reconstruction loss is the decoder's (see
        ``autoencoder``).
    tol : float, default=1e-3
        Stop when fewer than this fraction of labels change over an epoch (0: never).
    n_init : int, default=100
        Number of k-means runs on the pretrained embedding (the best by inertia is
        kept): many, because a single run on an embedding often ends in a local optimum
        that splits one class and merges two, and on a 10-d embedding 100 runs cost
        seconds even for 70,000 rows. Not used by a Ward start (``init``). The initial mixture is fitted to its clusters
        (see ``init``).
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
        data); the clustering phase starts from the clusters of the mixture's most
        probable components (see below for the prior's initial mixture). Clusters in an
        embedding are rarely spheres of one size, as k-means assumes: it tends to split
        a wide class and merge two narrow ones, which the mixture can undo. ``"auto"``:
        ``"kmeans"`` when ``n_samples * n_clusters`` exceeds 10**8 (Ward and EM are slow
        there). Below, after an augmented pretraining (``augment=True`` on image rows),
        whose classes are compact: ``"ward"`` up to 10,000 samples, which Ward links all
        (it started digits and USPS higher than k-means), ``"kmeans"`` beyond (on a
        random subset, as for MNIST, the start depended on the rows drawn and DEC and
        IDEC ended slightly lower); the mixture made the start unstable there. Other
        embeddings: ``"gmm"`` from 5,000 samples on, ``"kmeans"`` below (on fewer
        samples the full covariances overfit, and Ward started tabular data lower than
        k-means). ``"ward"`` allows at most 10,000 clusters.

        The prior's initial mixture has a component per cluster at the cluster's mean.
        After an augmented pretraining each component also takes its cluster's weight
        and diagonal variances. Otherwise it starts as the k-means model, with equal
        weights and one spherical variance shared by every component (the pooled
        within-cluster variance), so that the first assignments are the nearest means;
        the clustering phase then learns each component's weight and variances. On
        some such embeddings (standardised or tabular data) the clusters' own weights
        and variances moved many points away from their nearest mean before training
        began, and VaDE ended clearly lower; on the others the two starts ended close
        (see the user guide).
    autoencoder : AutoEncoder or None, default=None
        Pretraining to start from. None pretrains an :class:`AutoEncoder` built from
        ``hidden_dims``, ``latent_dim``, ``pretrain_epochs`` and ``pretrain_lr``, with
        ``loss="binary_cross_entropy"`` for a Bernoulli decoder and
        ``loss="huber"`` for a Gaussian one. An unfitted ``AutoEncoder`` is
        cloned and fitted; a fitted one (or ``sklearn.frozen.FrozenEstimator(fitted)``)
        is reused without refitting. It is never modified. A Bernoulli decoder can
        start from any loss (the output of a squared-error or Huber decoder is turned
        into logits); a Gaussian decoder needs ``loss="squared_error"`` or
        ``loss="huber"``.
    memory : str, joblib.Memory or None, default=None
        Cache the pretraining on disk (as ``Pipeline(memory=...)``). The cache key
        includes the seed, so this needs a fixed ``random_state``.
    mixed_precision : bool or "auto", default="auto"
        bfloat16 autocast in training forward passes. ``"auto"`` turns it on where the
        device runs bfloat16 natively (CPUs with AVX512-BF16 or AMX, CUDA devices of
        compute capability 8.0 and newer), where it is 2-3x faster for the default
        network, and off elsewhere, where emulated bfloat16 is slower than float32. The
        network trains in float32 whatever the dtype of ``X``; the ELBO is computed in
        float32; outputs are in the dtype of ``X`` (float64 data is embedded in
        float64).
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"`` or a :class:`torch.device`.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the reparameterisation noise, the mixture fit and
        :meth:`sample`. Global RNG state is never touched.
    checkpoint : str, os.PathLike or None, default=None
        Directory in which the fit keeps its state, so that ``fit`` called again on the
        same data with the same parameters (after Ctrl-C, a crash or a killed process)
        resumes where it stood, with the result of an uninterrupted fit on the CPU, and
        returns a finished fit at once (see ``resumed_from_`` and the user guide). The
        state is written at the end of pretraining, after the initial mixture, every
        ``checkpoint_every`` epochs and at the end, atomically, to
        ``<checkpoint>/VaDEClusterer-<fingerprint>.ckpt``: one file per fingerprint of
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
    weights_ : ndarray of shape (n_clusters,)
        Mixture weights ``pi``.
    means_ : ndarray of shape (n_clusters, latent_dim)
        Component means in the embedding.
    covariances_ : ndarray of shape (n_clusters, latent_dim)
        Diagonal component variances (as ``GaussianMixture(covariance_type="diag")``).
    cluster_centers_ : ndarray of shape (n_clusters, latent_dim)
        Same as ``means_``.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (what ``predict`` gives on the training data).
    likelihood_ : {"bernoulli", "gaussian"}
        The decoder's distribution, resolved from ``likelihood``.
    lr_ : float
        Initial learning rate of the run that was kept: ``lr``, or ``lr / 10`` after a
        collapse was detected and training restarted.
    n_iter_ : int
        Number of epochs of the clustering phase.
    history_ : list of dict
        One record per epoch: ``train_loss`` (negative ELBO per sample),
        ``delta_label`` (fraction of labels changed over the epoch), ``dur``, ...
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
        The trained skorch net; ``module_`` is its
        :class:`~skdeepcluster.nn.VaDEModule`. ``net_.forward(X)`` returns
        ``(decoder output, mu, log_var, z)`` as tensors (eval mode: ``z = mu``), rows
        in the order of ``X``.
    device_ : torch.device
        The device the model was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit (only when X has string column names).

    See Also
    --------
    DECClusterer : Deep embedded clustering.
    sklearn.mixture.GaussianMixture : The mixture model on the raw features.

    References
    ----------
    Z. Jiang, Y. Zheng, H. Tan, B. Tang and H. Zhou. "Variational Deep Embedding: An
    Unsupervised and Generative Approach to Clustering". IJCAI 2017.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import VaDEClusterer
    >>> X, _ = make_blobs(n_samples=200, centers=3, n_features=5, random_state=0)
    >>> vade = VaDEClusterer(n_clusters=3, hidden_dims=(32,), latent_dim=2,
    ...                      pretrain_epochs=20, max_epochs=5, random_state=0)
    >>> labels = vade.fit_predict(X.astype("float32"))
    >>> labels.shape, vade.means_.shape, vade.likelihood_
    ((200,), (3, 2), 'gaussian')
    >>> vade.predict_proba(X[:2].astype("float32")).sum(axis=1).round(6)
    array([1., 1.], dtype=float32)
    >>> X_new, y_new = vade.sample(4)
    >>> X_new.shape, y_new.shape
    ((4, 5), (4,))
    """

    _parameter_constraints: dict = {
        **AutoEncoderClusterer._parameter_constraints,
        "likelihood": [StrOptions({"auto", "bernoulli", "gaussian"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "prior_lr": [Interval(Real, 0, None, closed="neither"), None],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(self, n_clusters=8, *, hidden_dims="auto", latent_dim=10,
                 likelihood="auto", pretrain_epochs="auto", max_epochs="auto", batch_size="auto",
                 input_scale=None, image_shape="auto", augment=True, contrastive="auto",
                 lr=5e-4, prior_lr=5e-5, pretrain_lr="auto", tol=1e-3, n_init=100,
                 kmeans_backend="auto", init="auto", autoencoder=None, memory=None,
                 mixed_precision="auto", device="auto", random_state=None, checkpoint=None,
                 checkpoint_every=1, verbose=0, callbacks=None):
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.input_scale = input_scale
        self.image_shape = image_shape
        self.augment = augment
        self.contrastive = contrastive
        self.lr = lr
        self.prior_lr = prior_lr
        self.pretrain_lr = pretrain_lr
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
        """Pretrain (or reuse) the autoencoder, fit the mixture, then train VaDE on ``X``.

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
        self : VaDEClusterer
            The fitted estimator.
        """
        return self._fit_validated(X)

    # -- fit ---------------------------------------------------------------------------
    def _check_fit_data(self, X):
        super()._check_fit_data(X)
        if self.likelihood == "bernoulli":
            check_unit_interval(X, "likelihood='bernoulli'", "likelihood='gaussian'")

    def _resolve_likelihood(self, X):
        if self.likelihood != "auto":
            return self.likelihood
        return "bernoulli" if in_unit_interval(X) else "gaussian"

    def _fit(self, X, device, seed, checkpoint=None):
        likelihood = self._resolve_likelihood(X)
        images = self._pretraining_images(X)
        init_method = self._resolved_init(X, images)
        resume = None if checkpoint is None else checkpoint.resume("clustering")
        if resume is None:
            autoencoder, Xt, Z = self._pretrained_embedding(
                X, device, seed, loss=_PRETRAINING_LOSS[likelihood], checkpoint=checkpoint)
            if likelihood == "gaussian" and autoencoder.outputs_logits:
                raise ValueError(
                    "likelihood='gaussian' needs an autoencoder whose decoder outputs the "
                    "reconstruction (pretrained with loss='squared_error' or "
                    "loss='huber'), got one pretrained with loss='binary_cross_entropy'."
                )
            init = self._initial_state(autoencoder, Xt, Z, likelihood, seed, init_method,
                                       augmented=images[1])
            # What a resumed fit (and its restart after a collapse) starts from.
            start = {"autoencoder": autoencoder_kwargs(autoencoder),
                     "autoencoder_state": autoencoder.state_dict(), "init": init}
        else:
            start = {key: resume[key]
                     for key in ("autoencoder", "autoencoder_state", "init")}
            autoencoder = AutoEncoderModule(**start["autoencoder"]).to(device)
            autoencoder.load_state_dict(start["autoencoder_state"])
            Xt, init = training_data(X, device), start["init"]
        attempt = 0 if resume is None else resume["attempt"]
        args = (autoencoder, init, X, Xt, likelihood)

        lr = self.lr
        if attempt == 0:
            net, labels = self._train(*args, lr, seed, checkpoint=checkpoint,
                                      extra={**start, "attempt": 0}, resume=resume)
            occupied = self._occupied(labels)
            first = {"module": net.module_.state_dict(), "history": list(net.history),
                     "labels": labels, "occupied": occupied}
            resume = None
        else:  # resuming the restart: the first run's end state is in the checkpoint
            net, first = None, resume["first"]
            occupied = first["occupied"]
        if self._collapsed(occupied):
            lr = self.lr / 10
            if self.verbose and attempt == 0:
                print(f"VaDE collapsed: {occupied} of {self.n_clusters} components hold "
                      f"training points; restarting with lr={lr:g}.")
            retry, retry_labels = self._train(
                *args, lr, seed, checkpoint=checkpoint,
                extra={**start, "attempt": 1, "first": first}, resume=resume)
            retry_occupied = self._occupied(retry_labels)
            if self._collapsed(retry_occupied):
                warnings.warn(
                    f"VaDE collapsed: after training only {retry_occupied} of "
                    f"{self.n_clusters} mixture components hold training points, also "
                    f"after a restart with a 10x lower learning rate (lr={lr:g}). The "
                    f"empty components were reseeded, but the clustering is unreliable. "
                    f"Try a longer pretraining (pretrain_epochs), a lower lr, or fewer "
                    f"n_clusters.",
                    ConvergenceWarning,
                )
            if retry_occupied >= occupied:
                net = retry
            else:
                lr = self.lr
                if net is None:  # the first run's net, rebuilt from the checkpoint
                    net = self._build_net(*args, lr, seed)
                    net.module_.load_state_dict(first["module"])
                    net.history = type(net.history)(first["history"])

        module = net.module_
        with torch.no_grad():
            Z = self._forward(module.embed, Xt, module=module)
            self._reseed_empty_components(module.prior, Z)
        labels = to_numpy(self._forward(
            lambda xb: module.prior.log_joint(module.embed(xb)).argmax(1), X, module=module))
        weights, means, covariances = self._mixture(module, X.dtype)
        return {
            "net_": net,
            "weights_": weights,
            "means_": means,
            "covariances_": covariances,
            "cluster_centers_": means.copy(),
            "labels_": labels,
            "likelihood_": likelihood,
            "lr_": lr,
            "history_": history_records(net),
            "n_iter_": len(net.history),
            "kmeans_backend_": self._kmeans_backend(len(X)),
            "init_": init_method,
        }

    def _initial_state(self, autoencoder, Xt, Z, likelihood, seed, init, augmented):
        """Everything the clustering phase starts from, computed once (for a restart too).

        ``Z`` is the pretrained embedding of ``Xt``; ``init`` is the resolved ``init``;
        ``augmented``: whether the pretraining trained on augmented images.
        """
        # The initial mixture is a Gaussian per cluster of the initial clustering of the
        # embedding (k-means or Ward's linkage, ``init``, as DEC and DCN start). Not EM:
        # from this start EM drifted to mixtures that split one class and merged two
        # (see the class docstring). After an augmented pretraining each cluster keeps its own
        # weight and diagonal variances; otherwise the mixture starts as the k-means
        # model (equal weights, one shared spherical variance), whose assignments are
        # the nearest means: on some embeddings of data that are not augmented images
        # the clusters' own weights and variances moved many points away from their
        # nearest mean before training began (see ``init`` in the class docstring).
        moments = _partition_moments if augmented else _kmeans_moments
        weights, means, variances = moments(
            to_numpy(Z).astype(np.float64),
            self._initial_clustering(Z, seed, self.n_init, init)[1], self.n_clusters)
        # q(z | x) starts ten times narrower than the mixture components on average, so
        # that the first samples of z keep the structure of the pretrained embedding
        # (with the k-means model's shared variance, the same in every dimension).
        encoder_log_var = np.log(variances.mean(0) * _ENCODER_VAR_FRACTION)

        n = len(Xt)
        rows = torch.linspace(0, n - 1, min(n, _INIT_ROWS)).round().long()
        Xs = take_rows(Xt, rows)
        X_hat = self._forward(lambda xb: autoencoder(xb)[0], Xs, module=autoencoder)
        logit_scale, decoder_log_var = 1.0, 0.0
        if likelihood == "gaussian":
            mse = float(((X_hat - Xs) ** 2).mean())
            decoder_log_var = math.log(max(mse, torch.finfo(Xs.dtype).tiny))
        elif not autoencoder.outputs_logits:  # logits from the reconstruction
            logit_scale = bernoulli_logit_scale(X_hat, Xs)
        return dict(weights=weights, means=means, variances=variances,
                    encoder_log_var=encoder_log_var, logit_scale=logit_scale,
                    decoder_log_var=decoder_log_var)

    def _build_net(self, autoencoder, init, X, Xt, likelihood, lr, seed, steps_done=0):
        """The VaDE net, initialised from the pretrained ``autoencoder`` and the initial
        mixture ``init``; its learning-rate schedule starts at step ``steps_done``."""
        n_features, hidden_dims, latent_dim = mlp_dims(autoencoder.encoder)
        prior_lr = (self.prior_lr if self.prior_lr is not None else self.lr) * lr / self.lr
        batch_size = resolve_batch_size(self.batch_size, len(X))
        steps_per_epoch = len(BatchStream(_TensorData(Xt), batch_size, None))
        schedule = ("vade_lr_schedule", LRScheduler(
            torch.optim.lr_scheduler.LambdaLR, step_every="batch",
            lr_lambda=partial(lr_factor, steps_per_epoch=steps_per_epoch,
                              warmup_steps=steps_per_epoch),
            last_epoch=steps_done - 1))
        net = make_net(
            _VaDENet, VaDEModule,
            dict(n_features=n_features, hidden_dims=hidden_dims, latent_dim=latent_dim,
                 n_components=self.n_clusters, likelihood=likelihood),
            optimizer=torch.optim.Adam, lr=lr,
            optimizer_kwargs={"param_groups": [("prior.*", {"lr": prior_lr})]},
            max_epochs=self._max_epochs(len(X)), batch_size=batch_size, device=Xt.device,
            seed=seed, verbose=self.verbose,
            callbacks=[*(self.callbacks or ()), schedule],
            mixed_precision=self.mixed_precision,
        )
        net.initialize()
        net.module_.load_pretrained(
            autoencoder, logit_scale=init["logit_scale"],
            decoder_log_var=init["decoder_log_var"], encoder_log_var=init["encoder_log_var"])
        net.module_.prior.set(init["weights"], init["means"], init["variances"])
        return net

    def _train(self, autoencoder, init, X, Xt, likelihood, lr, seed, *, checkpoint=None,
               extra=None, resume=None):
        """Build and train a VaDE net: ``(net, labels of the training data)``.

        With ``checkpoint``, its state is written there with ``extra``; ``resume`` is
        such a state to continue from.
        """
        steps_done = 0 if resume is None else sum(
            row["train_batch_count"] for row in resume["net"]["history"])
        net = self._build_net(autoencoder, init, X, Xt, likelihood, lr, seed, steps_done)
        phase = _VaDEPhase(Xt)
        train(net, Xt, epochs=self._max_epochs(len(X)), phase=phase, tol=self.tol,
              checkpoint=checkpoint, extra=extra, resume=resume)
        labels = phase.labels if phase.labels is not None else phase.current_labels(net)
        return net, labels

    def _max_epochs(self, n_samples):
        """Epochs of the clustering phase: ``max_epochs``, with ``"auto"`` resolved."""
        if self.max_epochs == "auto":
            return epochs_within(CLUSTERING_STEPS, VADE_MAX_EPOCHS, n_samples,
                                 resolve_batch_size(self.batch_size, n_samples))
        return self.max_epochs

    def _occupied(self, labels):
        """Number of components holding at least one training point."""
        return int((torch.bincount(labels, minlength=self.n_clusters) > 0).sum())

    def _collapsed(self, occupied):
        return self.n_clusters > 1 and occupied <= self.n_clusters // 2

    @staticmethod
    def _reseed_empty_components(prior, Z, max_rounds=10):
        """Give every empty component a point (see the class docstring); in place."""
        k = len(prior.logits)
        for _ in range(max_rounds):
            log_joint = prior.log_joint(Z)
            labels = log_joint.argmax(1)
            counts = torch.bincount(labels, minlength=k)
            empty = torch.nonzero(counts == 0).flatten().tolist()
            if not empty:
                return
            log_pz = torch.logsumexp(log_joint, dim=1)
            log_w = prior.log_weights().clone()
            means, log_vars = prior.means.detach().clone(), prior.log_vars.detach().clone()
            taken, reseeded = [], []
            order = torch.argsort(log_pz, stable=True).tolist()  # worst explained first
            pos = 0
            for j in empty:
                while pos < len(order):
                    i = order[pos]
                    pos += 1
                    if (counts[labels[i]] > 1
                            and not any(torch.equal(Z[i], Z[t]) for t in taken)):
                        break
                else:  # fewer distinct points than components
                    break
                owner = int(labels[i])
                counts[owner] -= 1
                counts[j] += 1
                log_w[j] = log_w[owner] = log_w[owner] - math.log(2)
                means[j] = Z[i]
                log_vars[j] = log_vars[owner]
                taken.append(i)
                reseeded.append(j)
            if not reseeded:
                return
            log_w = torch.log_softmax(log_w, dim=0)
            # Narrow each reseeded component until it claims its point.
            for _ in range(64):
                lj = gmm_log_joint(Z[taken], log_w, means, clamp_log_var(log_vars))
                lost = [j for j, row in zip(reseeded, lj) if int(row.argmax()) != j]
                if not lost:
                    break
                log_vars[lost] = clamp_log_var(log_vars[lost] - math.log(4))
            prior.set(torch.exp(log_w), means, torch.exp(log_vars))

    @staticmethod
    def _mixture(module, dtype):
        prior = module.prior
        with torch.no_grad():
            weights = to_numpy(torch.exp(prior.log_weights()), dtype)
            means = to_numpy(prior.means, dtype).copy()
            covariances = to_numpy(torch.exp(prior.clamped_log_vars()), dtype)
        return weights, means, covariances

    # -- inference ---------------------------------------------------------------------
    def _embed_tensor(self, xb):
        return self.module_.embed(xb)

    def _assign(self, Z):
        prior = self.module_.prior
        with torch.no_grad():
            return to_numpy(torch.cat([prior.log_joint(Z[i:i + 4096]).argmax(1)
                                       for i in range(0, len(Z), 4096)]))

    def predict(self, X):
        """Predict the most probable component ``argmax_c p(c | mu(x))`` of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the cluster each sample belongs to.
        """
        X = self._validate_for_inference(X)
        module = self.module_
        return to_numpy(self._forward(
            lambda xb: module.prior.log_joint(module.embed(xb)).argmax(1), X))

    def predict_proba(self, X):
        """Posterior probability of each component, ``p(c | z)`` at ``z = mu(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Rows sum to one; in the dtype of ``X``.
        """
        X = self._validate_for_inference(X)
        module = self.module_
        log_gamma = self._forward(lambda xb: module.prior(module.embed(xb)), X)
        return to_numpy(torch.exp(log_gamma), X.dtype)

    def score(self, X, y=None):
        """Mean evidence lower bound (ELBO) per sample of ``X`` (higher is better).

        The ELBO of the paper (eq. 11), evaluated at the posterior mean: the
        reconstruction term is ``log p(x | z)`` at ``z = mu(x)`` and ``gamma`` is
        ``p(c | mu(x))``, so that the score is deterministic (training uses one random
        sample of ``z`` instead). With the Bernoulli likelihood, ``X`` outside [0, 1]
        raises a ``ValueError`` (the likelihood is undefined there).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Mean ELBO, in nats per sample.
        """
        X = self._validate_for_inference(X)
        module = self.module_
        check_scored_range(X, module.likelihood == "bernoulli")
        elbo = self._forward(lambda xb: module.elbo(xb, *module(xb)), X)
        return float(elbo.to(torch.float64).mean())

    def sample(self, n_samples=1):
        """Generate samples from the fitted model, as ``GaussianMixture.sample``.

        The number of samples of each component is drawn from a multinomial with the
        mixture weights, then ``z ~ N(mu_c, diag(sigma_c^2))`` and ``x`` is the mean of
        ``p(x | z)``: pixel probabilities for a Bernoulli decoder, the decoder's output
        for a Gaussian one. Random numbers come from ``random_state`` (so a fixed seed
        gives the same samples on every call, as ``GaussianMixture``).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Generated samples, in the dtype the model was trained in, in the units of
            the training data (divided by ``input_scale`` when it is set).
        y : ndarray of shape (n_samples,)
            Component of each sample.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at "
                f"least one sample."
            )
        rng = check_random_state(self.random_state)
        weights = self.weights_.astype(np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        means = self.means_.astype(np.float64)
        stds = np.sqrt(self.covariances_.astype(np.float64))
        Z = np.vstack([means[j] + stds[j] * rng.standard_normal((c, means.shape[1]))
                       for j, c in enumerate(counts)])
        y = np.concatenate([np.full(c, j, dtype=np.int64) for j, c in enumerate(counts)])
        dtype = self.means_.dtype
        X = to_numpy(self._forward(self.module_.decode_mean, Z.astype(dtype)), dtype)
        scale = self._input_scale()
        if scale is not None:  # in the units of the training data
            X = X / np.asarray(scale, dtype=dtype)
        return X, y

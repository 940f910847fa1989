"""The embedding of a fitted estimator in two dimensions."""

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.utils import check_array

from ._utils import as_labels, check_fitted_with, figure_and_axes, import_pyplot, n_rows


class EmbeddingDisplay:
    """The embedding in two dimensions, coloured by cluster or by class.

    Build it with :meth:`from_estimator` (the estimator's ``transform(X)``, coloured by
    its clusters ``predict(X)`` or by true labels) or with :meth:`from_predictions` (an
    embedding you computed); both project the embedding to 2-D (PCA by default) and
    draw it. The constructor takes points already in 2-D. All parameters are stored as
    attributes.

    Parameters
    ----------
    embedding_2d : array-like of shape (n_samples, 2)
        The points to draw.
    labels : array-like of shape (n_samples,), default=None
        A label per point (cluster or class; any sortable values); each label gets its
        own colour and an entry in the legend. None draws every point in one colour.
    label_name : str, default=None
        What the labels are (e.g. ``"cluster"``, ``"class"``): the title of the legend.

    Attributes
    ----------
    scatter_ : matplotlib.collections.PathCollection
        The points drawn.
    legend_ : matplotlib.legend.Legend or None
        The legend of the labels; None without labels or with ``legend=False``.
    ax_ : matplotlib.axes.Axes
        The Axes drawn into.
    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    See Also
    --------
    ContingencyMatrixDisplay : Clusters against classes after the best matching.
    TrainingCurvesDisplay : The per-epoch records of a fit.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DECClusterer
    >>> from skdeepcluster.inspection import EmbeddingDisplay
    >>> X, y = make_blobs(n_samples=60, n_features=6, centers=3, random_state=0)
    >>> X = X.astype("float32")
    >>> dec = DECClusterer(n_clusters=3, hidden_dims=(16,), latent_dim=3, n_init=3,
    ...                    pretrain_epochs=5, max_epochs=5, random_state=0).fit(X)
    >>> display = EmbeddingDisplay.from_estimator(dec, X)  # coloured by cluster
    >>> display.embedding_2d.shape
    (60, 2)
    >>> display = EmbeddingDisplay.from_estimator(dec, X, y)  # coloured by class
    >>> display.legend_.get_title().get_text()
    'class'
    """

    def __init__(self, embedding_2d, labels=None, *, label_name=None):
        self.embedding_2d = embedding_2d
        self.labels = labels
        self.label_name = label_name

    def plot(self, *, ax=None, cmap=None, legend=True, scatter_kwargs=None):
        """Draw the points.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            The Axes to draw into; None draws into a new figure.
        cmap : str or matplotlib.colors.Colormap, default=None
            Colours of the labels, in the order of the sorted labels. None:
            ``"tab10"`` for up to 10 labels, ``"tab20"`` for up to 20, else
            ``"turbo"``. A colormap of a few distinct colours (qualitative, e.g.
            ``"Set1"``) gives its first colours; any other is sampled evenly.
        legend : bool, default=True
            Whether to add a legend of the labels (when there are labels).
        scatter_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter` (e.g. ``s``,
            ``alpha``), over the defaults.

        Returns
        -------
        display : EmbeddingDisplay
            This display, with the matplotlib artists as attributes.
        """
        plt = import_pyplot("EmbeddingDisplay.plot")
        from matplotlib.colors import ListedColormap

        points = check_array(self.embedding_2d, ensure_min_samples=0)
        if points.shape[1] != 2:
            raise ValueError(
                f"embedding_2d must have 2 columns, got {points.shape[1]}; "
                f"EmbeddingDisplay.from_predictions projects an embedding to 2-D."
            )
        kwargs = {"s": 8, **(scatter_kwargs or {})}
        fig, ax = figure_and_axes(plt, ax)
        self.legend_ = None
        if self.labels is None:
            self.scatter_ = ax.scatter(points[:, 0], points[:, 1], **kwargs)
        else:
            labels = as_labels(self.labels, points.shape[0], "labels", "embedding_2d")
            names, codes = np.unique(labels, return_inverse=True)
            colors = _category_colors(plt, cmap, len(names))
            self.scatter_ = ax.scatter(
                points[:, 0], points[:, 1], c=codes, cmap=ListedColormap(colors),
                vmin=-0.5, vmax=len(names) - 0.5, **kwargs)
            if legend and len(names):
                handles, _ = self.scatter_.legend_elements(num=None)
                self.legend_ = ax.legend(handles, [str(name) for name in names],
                                         title=self.label_name, fontsize="small",
                                         title_fontsize="small")
        self.ax_ = ax
        self.figure_ = fig
        return self

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, reducer=None, label_name=None,
                       ax=None, cmap=None, legend=True, scatter_kwargs=None):
        """Draw ``estimator.transform(X)`` in 2-D, coloured by cluster or by class.

        Parameters
        ----------
        estimator : fitted estimator
            Anything with ``transform`` (a clusterer of this package, an
            :class:`~skdeepcluster.AutoEncoder`, a pipeline ending with one).
        X : array-like of shape (n_samples, n_features)
            The data to embed.
        y : array-like of shape (n_samples,), default=None
            True labels to colour by. None colours by ``estimator.predict(X)`` when
            the estimator predicts, else draws one colour.
        reducer : transformer, default=None
            What projects the embedding to 2-D: a clone of it is fitted with
            ``fit_transform`` (e.g. :class:`sklearn.manifold.TSNE`). None: PCA to 2
            components (an embedding of 2 dimensions is drawn as it is).
        label_name : str, default=None
            Title of the legend; None: ``"class"`` when ``y`` is given, else
            ``"cluster"``.
        ax : matplotlib.axes.Axes, default=None
            The Axes to draw into; None draws into a new figure.
        cmap : str or matplotlib.colors.Colormap, default=None
            Colours of the labels (see :meth:`plot`).
        legend : bool, default=True
            Whether to add a legend of the labels.
        scatter_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : EmbeddingDisplay
            The display, drawn.
        """
        import_pyplot("EmbeddingDisplay.from_estimator")
        check_fitted_with(estimator, "transform", "EmbeddingDisplay.from_estimator")
        n_samples = n_rows(X)
        if y is not None:
            labels = as_labels(y, n_samples, "y", "X")
            default_name = "class"
        elif hasattr(estimator, "predict"):
            labels, default_name = estimator.predict(X), "cluster"
        else:
            labels = default_name = None
        return cls.from_predictions(
            estimator.transform(X), labels, reducer=reducer,
            label_name=default_name if label_name is None else label_name, ax=ax,
            cmap=cmap, legend=legend, scatter_kwargs=scatter_kwargs)

    @classmethod
    def from_predictions(cls, embedding, labels=None, *, reducer=None, label_name=None,
                         ax=None, cmap=None, legend=True, scatter_kwargs=None):
        """Draw an embedding in 2-D, coloured by labels.

        Parameters
        ----------
        embedding : array-like of shape (n_samples, n_components)
            The embedding, e.g. ``estimator.transform(X)``.
        labels : array-like of shape (n_samples,), default=None
            A label per point (clusters or classes); None draws one colour.
        reducer : transformer, default=None
            What projects the embedding to 2-D: a clone of it is fitted with
            ``fit_transform`` (e.g. :class:`sklearn.manifold.TSNE`). None: PCA to 2
            components (an embedding of 2 dimensions is drawn as it is).
        label_name : str, default=None
            Title of the legend.
        ax : matplotlib.axes.Axes, default=None
            The Axes to draw into; None draws into a new figure.
        cmap : str or matplotlib.colors.Colormap, default=None
            Colours of the labels (see :meth:`plot`).
        legend : bool, default=True
            Whether to add a legend of the labels.
        scatter_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : EmbeddingDisplay
            The display, drawn.
        """
        import_pyplot("EmbeddingDisplay.from_predictions")
        embedding = check_array(embedding, dtype="numeric")
        if labels is not None:
            labels = as_labels(labels, embedding.shape[0], "labels", "embedding")
        display = cls(_to_2d(embedding, reducer), labels, label_name=label_name)
        return display.plot(ax=ax, cmap=cmap, legend=legend,
                            scatter_kwargs=scatter_kwargs)


def _to_2d(embedding, reducer):
    """``embedding`` projected to two dimensions by a clone of ``reducer`` (or PCA)."""
    if reducer is None:
        if embedding.shape[1] == 2:
            return embedding
        if embedding.shape[1] < 2:
            raise ValueError(
                f"The embedding has {embedding.shape[1]} dimension; EmbeddingDisplay "
                f"draws two (an estimator with latent_dim >= 2)."
            )
        reducer = PCA(n_components=2, random_state=0)
    elif not hasattr(reducer, "fit_transform"):
        raise TypeError(
            f"reducer must be a transformer with fit_transform (e.g. PCA, TSNE), got "
            f"{type(reducer).__name__}."
        )
    points = np.asarray(clone(reducer).fit_transform(embedding))
    if points.shape != (embedding.shape[0], 2):
        raise ValueError(
            f"The reducer must return 2 columns, one row per sample "
            f"({embedding.shape[0]}); it returned shape {points.shape}. Set its "
            f"n_components=2."
        )
    return points


def _category_colors(plt, cmap, n_colors):
    """``n_colors`` distinct RGBA colours from ``cmap``."""
    if cmap is None:
        cmap = "tab10" if n_colors <= 10 else "tab20" if n_colors <= 20 else "turbo"
    cmap = plt.get_cmap(cmap)
    if n_colors <= cmap.N <= 32:  # a qualitative colormap: its first colours
        return cmap(np.arange(n_colors))
    return cmap(np.linspace(0, 1, max(n_colors, 1)))[:n_colors]

"""Clusters against classes, after the best matching of clusters to classes."""

import numpy as np

from ..metrics._cluster import _best_matching, _check_clusterings
from ._utils import as_labels, check_fitted_with, figure_and_axes, import_pyplot, n_rows


class ContingencyMatrixDisplay:
    """The cluster-versus-class contingency matrix, clusters matched to classes.

    Cell ``(i, j)`` counts the samples of class ``i`` put in cluster ``j``. Built with
    :meth:`from_estimator` or :meth:`from_predictions`, the clusters are matched one to
    one to the classes as :func:`~skdeepcluster.metrics.clustering_accuracy_score`
    matches them (the Hungarian algorithm), and the columns are reordered so that the
    matched pairs lie on the diagonal, in the order of the classes; unmatched clusters
    (more clusters than classes) come last, as do unmatched classes (fewer clusters
    than classes). The diagonal holds the correctly clustered samples; what lies off it
    shows which classes a clustering merges or splits. The title gives the accuracy.
    All parameters are stored as attributes.

    Parameters
    ----------
    contingency : ndarray of shape (n_classes, n_clusters)
        The counts, rows and columns in the order to draw.
    class_labels : array-like of shape (n_classes,), default=None
        The class of each row; None: ``0, 1, ...``.
    cluster_labels : array-like of shape (n_clusters,), default=None
        The cluster of each column; None: ``0, 1, ...``.
    accuracy : float, default=None
        The clustering accuracy, shown as the title; None: no title.

    Attributes
    ----------
    im_ : matplotlib.image.AxesImage
        The image of the counts.
    text_ : ndarray of shape (n_classes, n_clusters) of matplotlib.text.Text, or None
        The annotations of the counts; None with ``include_values=False``.
    ax_ : matplotlib.axes.Axes
        The Axes drawn into.
    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    See Also
    --------
    skdeepcluster.metrics.clustering_accuracy_score : The accuracy after this matching.
    sklearn.metrics.cluster.contingency_matrix : The counts, unmatched.
    sklearn.metrics.ConfusionMatrixDisplay : The same picture for a classifier.

    Examples
    --------
    >>> from skdeepcluster.inspection import ContingencyMatrixDisplay
    >>> y_true = [0, 0, 0, 1, 1, 2, 2, 2]
    >>> y_pred = [5, 5, 7, 7, 7, 3, 3, 3]  # cluster names are arbitrary
    >>> display = ContingencyMatrixDisplay.from_predictions(y_true, y_pred)
    >>> display.contingency  # columns: clusters 5, 7, 3
    array([[2, 1, 0],
           [0, 2, 0],
           [0, 0, 3]])
    >>> display.cluster_labels
    array([5, 7, 3])
    >>> display.accuracy
    0.875
    >>> display.ax_.get_title()
    'accuracy 0.875'
    """

    def __init__(self, contingency, *, class_labels=None, cluster_labels=None,
                 accuracy=None):
        self.contingency = contingency
        self.class_labels = class_labels
        self.cluster_labels = cluster_labels
        self.accuracy = accuracy

    def plot(self, *, ax=None, cmap="Blues", include_values=True, values_format="d",
             colorbar=True, xticks_rotation="horizontal", text_kw=None):
        """Draw the matrix.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            The Axes to draw into; None draws into a new figure.
        cmap : str or matplotlib.colors.Colormap, default="Blues"
            Colormap of the counts.
        include_values : bool, default=True
            Whether to write the count in each cell.
        values_format : str, default="d"
            Format specification of the counts (e.g. ``".2f"`` for a matrix of
            fractions).
        colorbar : bool, default=True
            Whether to add a colorbar.
        xticks_rotation : {"horizontal", "vertical"} or float, default="horizontal"
            Rotation of the cluster labels.
        text_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.text` for the counts (e.g.
            ``fontsize``).

        Returns
        -------
        display : ContingencyMatrixDisplay
            This display, with the matplotlib artists as attributes.
        """
        plt = import_pyplot("ContingencyMatrixDisplay.plot")
        counts = np.asarray(self.contingency)
        if counts.ndim != 2:
            raise ValueError(f"contingency must be 2-D, got shape {counts.shape}.")
        n_classes, n_clusters = counts.shape
        class_labels = _tick_labels(self.class_labels, n_classes, "class_labels")
        cluster_labels = _tick_labels(self.cluster_labels, n_clusters, "cluster_labels")
        fig, ax = figure_and_axes(plt, ax)
        self.im_ = ax.imshow(counts, cmap=cmap, interpolation="nearest")
        self.text_ = None
        if include_values:
            # light text on the dark half of the colormap, dark text on the light half
            dark, light = self.im_.cmap(1.0), self.im_.cmap(0.0)
            middle = (counts.max() + counts.min()) / 2 if counts.size else 0
            self.text_ = np.empty(counts.shape, dtype=object)
            for (i, j), count in np.ndenumerate(counts):
                kwargs = {"ha": "center", "va": "center",
                          "color": light if count > middle else dark, **(text_kw or {})}
                self.text_[i, j] = ax.text(j, i, format(count, values_format), **kwargs)
        if colorbar:
            fig.colorbar(self.im_, ax=ax)
        ax.set(xticks=np.arange(n_clusters), xticklabels=cluster_labels,
               yticks=np.arange(n_classes), yticklabels=class_labels,
               xlabel="cluster", ylabel="class")
        ax.tick_params(axis="x", labelrotation=_rotation(xticks_rotation))
        if self.accuracy is not None:
            ax.set_title(f"accuracy {self.accuracy:.3f}")
        self.ax_ = ax
        self.figure_ = fig
        return self

    @classmethod
    def from_estimator(cls, estimator, X, y, *, ax=None, cmap="Blues",
                       include_values=True, values_format="d", colorbar=True,
                       xticks_rotation="horizontal", text_kw=None):
        """Draw the classes ``y`` against the clusters ``estimator.predict(X)``.

        Parameters
        ----------
        estimator : fitted clusterer
            Anything with ``predict`` (a clusterer, a pipeline ending with one).
        X : array-like of shape (n_samples, n_features)
            The data to cluster.
        y : array-like of shape (n_samples,)
            The true classes of ``X``.
        ax : matplotlib.axes.Axes, default=None
            The Axes to draw into; None draws into a new figure.
        cmap : str or matplotlib.colors.Colormap, default="Blues"
            Colormap of the counts.
        include_values : bool, default=True
            Whether to write the count in each cell.
        values_format : str, default="d"
            Format specification of the counts.
        colorbar : bool, default=True
            Whether to add a colorbar.
        xticks_rotation : {"horizontal", "vertical"} or float, default="horizontal"
            Rotation of the cluster labels.
        text_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.text` for the counts.

        Returns
        -------
        display : ContingencyMatrixDisplay
            The display, drawn.
        """
        import_pyplot("ContingencyMatrixDisplay.from_estimator")
        check_fitted_with(estimator, "predict", "ContingencyMatrixDisplay.from_estimator")
        y = as_labels(y, n_rows(X), "y", "X")
        return cls.from_predictions(
            y, estimator.predict(X), ax=ax, cmap=cmap, include_values=include_values,
            values_format=values_format, colorbar=colorbar,
            xticks_rotation=xticks_rotation, text_kw=text_kw)

    @classmethod
    def from_predictions(cls, y_true, y_pred, *, ax=None, cmap="Blues",
                         include_values=True, values_format="d", colorbar=True,
                         xticks_rotation="horizontal", text_kw=None):
        """Draw the classes ``y_true`` against the clusters ``y_pred``.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            The true classes (any sortable labels).
        y_pred : array-like of shape (n_samples,)
            The clusters (any sortable labels).
        ax : matplotlib.axes.Axes, default=None
            The Axes to draw into; None draws into a new figure.
        cmap : str or matplotlib.colors.Colormap, default="Blues"
            Colormap of the counts.
        include_values : bool, default=True
            Whether to write the count in each cell.
        values_format : str, default="d"
            Format specification of the counts.
        colorbar : bool, default=True
            Whether to add a colorbar.
        xticks_rotation : {"horizontal", "vertical"} or float, default="horizontal"
            Rotation of the cluster labels.
        text_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.text` for the counts.

        Returns
        -------
        display : ContingencyMatrixDisplay
            The display, drawn.
        """
        import_pyplot("ContingencyMatrixDisplay.from_predictions")
        y_true, y_pred = _check_clusterings(y_true, y_pred)
        if y_true.shape[0] == 0:
            raise ValueError("y_true and y_pred are empty: there is nothing to draw.")
        counts, rows, cols = _best_matching(y_true, y_pred)
        # matched pairs first (rows increasing: the order of the classes), then the rest
        row_order = np.concatenate([rows, np.setdiff1d(np.arange(counts.shape[0]), rows)])
        col_order = np.concatenate([cols, np.setdiff1d(np.arange(counts.shape[1]), cols)])
        display = cls(
            counts[np.ix_(row_order, col_order)],
            class_labels=np.unique(y_true)[row_order],
            cluster_labels=np.unique(y_pred)[col_order],
            accuracy=float(counts[rows, cols].sum() / y_true.shape[0]))
        return display.plot(ax=ax, cmap=cmap, include_values=include_values,
                            values_format=values_format, colorbar=colorbar,
                            xticks_rotation=xticks_rotation, text_kw=text_kw)


def _tick_labels(labels, n, name):
    if labels is None:
        return np.arange(n)
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have {n} labels, got shape {labels.shape}.")
    return labels


def _rotation(rotation):
    return {"horizontal": 0, "vertical": 90}.get(rotation, rotation)

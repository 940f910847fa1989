"""The per-epoch records of a fit (``history_``)."""

from numbers import Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._utils import import_pyplot

#: Records that describe the bookkeeping of an epoch, not the training.
_NOT_CURVES = {"epoch", "dur", "train_batch_count", "valid_batch_count"}


class TrainingCurvesDisplay:
    """The training curves of a fit: one subplot per record of ``history_``.

    Every estimator of this package records one dict per epoch in ``history_``; the
    keys depend on the method (``train_loss`` for all; ``delta_label`` for DEC, IDEC,
    DCN and VaDE; ``kmeans_loss`` and ``nmi_previous`` for DeepCluster). Build the
    display with :meth:`from_estimator` or :meth:`from_history`. The clusterers record
    their clustering phase only: the curves of the pretraining are those of the
    :class:`~skdeepcluster.AutoEncoder`, when you fit one and pass it as
    ``autoencoder=``. All parameters are stored as attributes.

    Parameters
    ----------
    curves : dict of str to tuple of two ndarrays
        ``{name: (epochs, values)}``, the curves in the order to draw.

    Attributes
    ----------
    lines_ : dict of str to matplotlib.lines.Line2D
        The line of each curve.
    axes_ : dict of str to matplotlib.axes.Axes
        The Axes of each curve.
    figure_ : matplotlib.figure.Figure
        The figure of the Axes.

    See Also
    --------
    EmbeddingDisplay : The embedding in 2-D.
    ContingencyMatrixDisplay : Clusters against classes after the best matching.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepcluster import AutoEncoder
    >>> from skdeepcluster.inspection import TrainingCurvesDisplay
    >>> X = np.random.RandomState(0).rand(60, 6).astype("float32")
    >>> ae = AutoEncoder(hidden_dims=(16,), latent_dim=2, max_epochs=4,
    ...                  random_state=0).fit(X)
    >>> display = TrainingCurvesDisplay.from_estimator(ae)
    >>> list(display.curves)
    ['train_loss']
    >>> display.curves["train_loss"][0]
    array([1, 2, 3, 4])
    """

    def __init__(self, curves):
        self.curves = curves

    def plot(self, *, ax=None, line_kwargs=None):
        """Draw each curve in its own Axes.

        Parameters
        ----------
        ax : matplotlib.axes.Axes or array-like of Axes, default=None
            One Axes per curve, in the order of ``curves`` (a single Axes for a single
            curve); None draws into a new figure with one row of subplots.
        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot` (e.g. ``color``,
            ``label``), over the defaults.

        Returns
        -------
        display : TrainingCurvesDisplay
            This display, with the matplotlib artists as attributes.
        """
        plt = import_pyplot("TrainingCurvesDisplay.plot")
        from matplotlib.ticker import MaxNLocator

        names = list(self.curves)
        if not names:
            raise ValueError("There is no curve to draw.")
        if ax is None:
            fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2),
                                     layout="constrained", squeeze=False)
            axes = axes.ravel()
        else:
            axes = np.ravel(np.asarray(ax, dtype=object))
            if axes.shape[0] != len(names):
                raise ValueError(
                    f"ax has {axes.shape[0]} Axes for {len(names)} curves {names}; pass "
                    f"one Axes per curve, or choose the curves with keys=."
                )
            fig = axes[0].figure
        self.axes_, self.lines_ = {}, {}
        for name, axis in zip(names, axes):
            epochs, values = (np.asarray(a) for a in self.curves[name])
            # a single epoch draws no line segment: mark the point
            kwargs = {"marker": "o"} if values.shape[0] == 1 else {}
            kwargs.update(line_kwargs or {})
            (self.lines_[name],) = axis.plot(epochs, values, **kwargs)
            axis.set(xlabel="epoch", ylabel=name)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            self.axes_[name] = axis
        self.figure_ = fig
        return self

    @classmethod
    def from_estimator(cls, estimator, *, keys=None, ax=None, line_kwargs=None):
        """Draw the curves of ``estimator.history_``.

        Parameters
        ----------
        estimator : fitted estimator
            An estimator of this package (or a pipeline ending with one).
        keys : list of str, default=None
            The records to draw; None: every numeric record but the bookkeeping
            (``epoch``, ``dur``, batch counts), ``train_loss`` first.
        ax : matplotlib.axes.Axes or array-like of Axes, default=None
            One Axes per curve; None draws into a new figure.
        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : TrainingCurvesDisplay
            The display, drawn.
        """
        import_pyplot("TrainingCurvesDisplay.from_estimator")
        check_is_fitted(estimator)
        final = getattr(estimator, "_final_estimator", estimator)  # a Pipeline's last
        if not hasattr(final, "history_"):
            raise TypeError(
                f"TrainingCurvesDisplay.from_estimator needs an estimator with a "
                f"history_ attribute; {type(final).__name__} has none."
            )
        return cls.from_history(final.history_, keys=keys, ax=ax,
                                line_kwargs=line_kwargs)

    @classmethod
    def from_history(cls, history, *, keys=None, ax=None, line_kwargs=None):
        """Draw the curves of a history: a list of per-epoch dicts.

        Parameters
        ----------
        history : list of dict
            One dict per epoch, e.g. ``estimator.history_`` or a skorch net's
            ``history``. A record missing (or None) in some epochs is drawn over the
            epochs that have it; the epoch of a row is its ``"epoch"`` (else its position,
            from 1).
        keys : list of str, default=None
            The records to draw; None: every numeric record but the bookkeeping
            (``epoch``, ``dur``, batch counts), ``train_loss`` first.
        ax : matplotlib.axes.Axes or array-like of Axes, default=None
            One Axes per curve; None draws into a new figure.
        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : TrainingCurvesDisplay
            The display, drawn.
        """
        import_pyplot("TrainingCurvesDisplay.from_history")
        rows = list(history)
        if not rows:
            raise ValueError("The history is empty: the fit ran no epoch.")
        if keys is None:
            keys = _numeric_keys(rows)
            if not keys:
                raise ValueError("The history has no numeric record to draw.")
        elif isinstance(keys, str):
            keys = [keys]
        curves = {}
        for key in keys:
            points = [(row.get("epoch", i + 1), row[key])
                      for i, row in enumerate(rows) if row.get(key) is not None]
            if not points:
                raise ValueError(
                    f"{key!r} is not recorded in the history; its numeric records are "
                    f"{_numeric_keys(rows)}."
                )
            if not all(_is_number(value) for _, value in points):
                raise ValueError(f"The record {key!r} is not numeric.")
            epochs, values = zip(*points)
            curves[key] = (np.asarray(epochs), np.asarray(values, dtype=float))
        return cls(curves).plot(ax=ax, line_kwargs=line_kwargs)


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _numeric_keys(rows):
    """Numeric records, in order of first appearance, ``train_loss`` first."""
    keys = []
    for row in rows:
        keys += [k for k, v in row.items()
                 if k not in keys and k not in _NOT_CURVES and _is_number(v)]
    return sorted(keys, key=lambda k: k != "train_loss")  # stable

"""Helpers shared by the displays."""

import numpy as np
from sklearn.utils.validation import check_is_fitted


def import_pyplot(caller):
    """``matplotlib.pyplot``, imported when a display first needs it.

    Raises an ImportError naming ``caller`` and how to install matplotlib when it is
    missing.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib, which is not installed. Install it with "
            f"`pip install matplotlib`."
        ) from exc
    return plt


def figure_and_axes(plt, ax):
    """``(figure, ax)``: a new figure with one Axes when ``ax`` is None."""
    if ax is None:
        fig, ax = plt.subplots()
        return fig, ax
    return ax.figure, ax


def check_fitted_with(estimator, method, caller):
    """Check that ``estimator`` is fitted and has ``method`` (a TypeError if not)."""
    if not hasattr(estimator, method):
        raise TypeError(
            f"{caller} needs an estimator with a {method} method; "
            f"{type(estimator).__name__} has none."
        )
    check_is_fitted(estimator)


def n_rows(X):
    """Number of samples of ``X`` (array, DataFrame, list of rows, tensor)."""
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(X)


def as_labels(labels, n_samples, name, what):
    """``labels`` as a 1-D array of ``n_samples`` values, or a ValueError saying so."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {labels.shape}.")
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {labels.shape[0]} labels but {what} has {n_samples} samples."
        )
    return labels

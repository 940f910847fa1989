"""Clustering metrics and scorers."""

from ._cluster import (
    SCORERS,
    accuracy_scorer,
    ari_scorer,
    clustering_accuracy_score,
    get_scorer,
    nmi_scorer,
)

__all__ = [
    "SCORERS",
    "accuracy_scorer",
    "ari_scorer",
    "clustering_accuracy_score",
    "get_scorer",
    "nmi_scorer",
]

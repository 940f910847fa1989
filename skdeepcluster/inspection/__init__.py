"""Displays of a fitted estimator, in the style of scikit-learn's.

Each display is built with ``from_estimator`` (from a fitted estimator and data) or from
precomputed values (``from_predictions``, ``from_history``), draws itself with ``plot``
and keeps the values it drew and the matplotlib artists as attributes. matplotlib is
needed to draw (``pip install matplotlib``), not to import this module.
"""

from ._contingency import ContingencyMatrixDisplay
from ._curves import TrainingCurvesDisplay
from ._embedding import EmbeddingDisplay

__all__ = ["ContingencyMatrixDisplay", "EmbeddingDisplay", "TrainingCurvesDisplay"]

"""Deep clustering estimators with the scikit-learn API."""

from ._autoencoder import AutoEncoder
from ._base import BaseDeepClusterer
from ._dec import DECClusterer

__version__ = "0.1.0"

__all__ = ["AutoEncoder", "BaseDeepClusterer", "DECClusterer", "__version__"]

"""Deep clustering estimators with the scikit-learn API."""

from ._autoencoder import AutoEncoder
from ._base import BaseDeepClusterer
from ._dcn import DCNClusterer
from ._dec import DECClusterer
from ._deepcluster import DeepClusterClusterer
from ._vade import VaDEClusterer

__version__ = "0.1.0"

__all__ = ["AutoEncoder", "BaseDeepClusterer", "DCNClusterer", "DECClusterer",
           "DeepClusterClusterer", "VaDEClusterer", "__version__"]

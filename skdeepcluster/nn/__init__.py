"""Torch modules used by the estimators (networks only: no training logic)."""

from ._mlp import MLP, AutoEncoderModule
from ._heads import DECModule
from ._convnet import (ConvBackbone, MLPBackbone, PseudoLabelClassifier, feature_noise,
                       random_affine)
from ._vade import GMMPrior, VaDEModule

__all__ = ["MLP", "AutoEncoderModule", "DECModule", "ConvBackbone", "MLPBackbone",
           "PseudoLabelClassifier", "random_affine", "feature_noise", "GMMPrior",
           "VaDEModule"]

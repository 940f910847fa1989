"""Dataset loaders (local files only, nothing is downloaded)."""

from ._base import get_data_home, load_mnist, load_usps

__all__ = ["get_data_home", "load_mnist", "load_usps"]

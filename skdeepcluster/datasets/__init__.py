"""Datasets: loaders of local files and fetchers that download them once.

``load_mnist`` and ``load_usps`` read files already in the data home and never
download anything; ``fetch_mnist`` and ``fetch_usps`` download the public files the
first time (checked against published checksums; needs the optional dependency
``pooch``) and read them from the data home afterwards.
"""

from ._base import get_data_home, load_mnist, load_usps
from ._fetch import fetch_mnist, fetch_usps

__all__ = ["fetch_mnist", "fetch_usps", "get_data_home", "load_mnist", "load_usps"]

"""hwai.data: the frozen :class:`Dataset` and the loaders that produce it."""

from hwai.data.dataset import Dataset
from hwai.data.loaders import JET_CLASSES, OPENML_JETS
from hwai.data.source import load_dataset

__all__ = ["Dataset", "JET_CLASSES", "OPENML_JETS", "load_dataset"]

"""The vector index: ``VectorIndex`` over one module per index kind (``flat``, ``hnsw``, ``hnswsq``,
``ivf``) behind ``base.KindIndex``, its ``IndexConfig`` and its file format (``file``)."""

from reid.store.index.config import IndexConfig, IndexFileError
from reid.store.index.vector_index import CENTRE_MIN_VECTORS, VectorIndex

__all__ = ["CENTRE_MIN_VECTORS", "IndexConfig", "IndexFileError", "VectorIndex"]

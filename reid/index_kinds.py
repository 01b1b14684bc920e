"""The vector index kinds a gallery can be built with (``--index``).

Standard library only, so that ``reid --help`` lists them without loading FAISS. They are the kinds
:class:`reid.store.IndexConfig` accepts (``tests/app/test_cli_startup.py`` checks that the two
agree); ``auto`` picks one from the gallery's size.
"""

from __future__ import annotations

__all__ = ["INDEX_KINDS"]

INDEX_KINDS: tuple[str, ...] = ("flat", "hnsw", "hnswsq", "ivfsq", "ivfpq", "ivfpqfs",
                                  "auto")

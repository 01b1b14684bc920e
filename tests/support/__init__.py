"""Test and benchmark kits, kept out of the runtime packages (``app``, ``reid``, ``tracking``,
``training``, which never import them; ``tests/test_layering.py`` checks it):

- :mod:`tests.support.synthetic`: procedural camera scenes with ground truth and
  ``GroundTruthDetector`` (boxes read from a scene instead of a model).
- :mod:`tests.support.metrics`: CLEAR-MOT MOTA and IDF1 of tracker output against ground truth.
- :mod:`tests.support.embedders`: a random-init TF-CLIP or zero-shot CLIP embedder (the real cost,
  no weights).

Benchmarks run as scripts (``python benchmarks/x.py``) put the repository root on ``sys.path``
before importing them.
"""

"""Where each model weight comes from, whether it is on this machine, and fetching it.

Library code only reads local files; downloads happen here, when the user asks
(``reid weights fetch NAME``), and fail fast offline with a message that says what to do.
YOLO and CLIP are fetched over HTTP by :mod:`reid.weights.download` (resume, SHA-256, mirrors:
``REID_WEIGHTS_MIRROR``, ``REID_WEIGHTS_URL_<NAME>``).
"""

from reid.weights.download import ChecksumError, DownloadError
from reid.weights.sources import WEIGHT_SOURCES, WeightSource, WeightStatus, fetch_weights, weights_status

__all__ = ["WEIGHT_SOURCES", "ChecksumError", "DownloadError", "WeightSource", "WeightStatus",
           "fetch_weights", "weights_status"]

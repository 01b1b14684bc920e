"""The web UI's callbacks as plain functions of the service, by name (for tests and scripts).

They live with their tab (``app.ui.tab_people``, ``tab_search``, ``tab_ingest``, ``tab_status``);
this module only gathers them. Each takes a ``UiService`` (``app.ui.service_api``) and plain values
and returns plain values; a problem the user can fix raises ``UiError``.
"""

from __future__ import annotations

from app.ui._shared import ALL_CAMERAS, UiError
from app.ui.tab_ingest import (
    check_folder,
    check_uploads,
    index_server_folder,
    index_uploads,
    rows_for_files,
)
from app.ui.tab_people import PeopleView, list_people, pick_id, query_preview
from app.ui.tab_search import (
    ResultsView,
    SearchForm,
    build_request,
    export_results,
    give_feedback,
    play_match,
    results_view,
    run_search,
)
from app.ui.tab_status import camera_names as camera_choices
from app.ui.tab_status import status_view
from reid.service.names import EXPORT_FORMATS

__all__ = [
    "ALL_CAMERAS",
    "EXPORT_FORMATS",
    "PeopleView",
    "ResultsView",
    "SearchForm",
    "UiError",
    "build_request",
    "camera_choices",
    "check_folder",
    "check_uploads",
    "export_results",
    "give_feedback",
    "index_server_folder",
    "index_uploads",
    "list_people",
    "pick_id",
    "play_match",
    "query_preview",
    "results_view",
    "rows_for_files",
    "run_search",
    "status_view",
]

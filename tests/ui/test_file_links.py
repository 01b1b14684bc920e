"""Gallery pictures as absolute file URLs (``app.ui.file_links``): the page's root as Gradio finds
it, behind a proxy too; API clients (gradio_client, which downloads by path) keep paths."""

from __future__ import annotations

import gradio as gr
from starlette.requests import Request

from app.ui.file_links import file_links

PATH = "/srv/reid data/crops/3/7/thumb.jpg"


def _request(headers: dict[str, str], host: str = "10.0.0.5:7860") -> gr.Request:
    scope = {"type": "http", "method": "POST", "scheme": "http", "path": "/gradio_api/queue/join",
             "raw_path": b"/gradio_api/queue/join", "query_string": b"", "root_path": "",
             "server": (host.split(":")[0], int(host.split(":")[1])),
             "headers": [(b"host", host.encode())] + [(k.lower().encode(), v.encode())
                                                      for k, v in headers.items()]}
    return gr.Request(request=Request(scope))


def test_page_requests_get_absolute_urls_of_gradios_file_route():
    link = file_links(_request({}))
    assert link(PATH) == "http://10.0.0.5:7860/gradio_api/file=/srv/reid%20data/crops/3/7/thumb.jpg"


def test_behind_a_reverse_proxy_the_forwarded_origin_is_used():
    link = file_links(_request({"X-Forwarded-Host": "reid.example.org",
                                "X-Forwarded-Proto": "https"}))
    assert link(PATH).startswith("https://reid.example.org/gradio_api/file=/srv/")


def test_api_clients_and_requestless_calls_keep_paths():
    assert file_links(_request({"x-gradio-user": "api"}))(PATH) == PATH
    assert file_links(None)(PATH) == PATH



def test_hostile_forwarded_headers_give_a_string_and_never_an_error():
    for host in ("a b", "::::", "x" * 5000, "évil.example", "h\u202e", "[::1", "h:99999999"):
        link = file_links(_request({"X-Forwarded-Host": host, "X-Forwarded-Proto": "javascript"}))
        url = link(PATH)  # a URL of the file, or the path for Gradio to make one of
        assert url == PATH or (url.startswith(("http://", "https://"))
                               and url.endswith("/gradio_api/file=/srv/reid%20data/crops/3/7/thumb.jpg"))

"""`kepuxl serve`: the page on 127.0.0.1, served by waitress (pure Python, threads, no fork: Windows too).

The server binds 127.0.0.1 only, on the given port or one the system picks. Request bodies are capped
at the inbox's largest limit (a zip: 200 MB) by waitress itself, which spools a large body to a
temporary file rather than memory; the per-file caps are checked again while the body is copied into
the inbox (inbox_add). Ctrl-C (or closing the window) stops it; a collect then running stops with the
process, and — being atomic — leaves the previous outputs as they were.
"""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from waitress import create_server

from ..starter import write_bat
from .app import UPLOAD_CEILING, create_app
from .guard import Keys

__all__ = ["serve", "write_bat"]

HOST = "127.0.0.1"


def serve(
    config: Path,
    *,
    port: int = 0,
    open_browser: bool = True,
    ready: Callable[[str], None] | None = None,
    threads: int = 6,
) -> None:
    """Serve the campaign's page until Ctrl-C; `ready(url)` is called once it listens."""
    keys = Keys()
    app = create_app(Path(config), keys)
    server = create_server(
        app,
        host=HOST,
        port=port,
        threads=threads,
        ident="kepuxl",
        max_request_body_size=UPLOAD_CEILING,
        clear_untrusted_proxy_headers=True,
    )
    keys.port = server.effective_port
    url = f"http://{HOST}:{keys.port}/?token={keys.token}"
    if ready is not None:
        ready(url)
    if open_browser:
        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()

"""What the app's HTTP server answers besides the page: internal endpoints a user does not need are
closed, and an upload over the server's cap gets a one-line reason instead of a bare 413.

Streamlit 1.67 has no option to turn these off: ``/_stcore/metrics`` (open-metrics about sessions
and caches), the agent API (``/_stcore/agent/...``, which answers even when
``server.enableAgentApi`` is off) and the login routes (``/auth/...``, ``/oauth2callback``) are
always routed. Its ``st.App`` (ASGI mode, which ``streamlit run app.py`` picks because app.py
defines ``app = st.App(...)``) takes middleware that runs before Streamlit's routes; ``Guard``
answers 404 for those paths there. Everything the page needs (``/``, ``/static``,
``/_stcore/stream``, ``/_stcore/health``, ``/_stcore/host-config``, ``/_stcore/upload_file``,
``/media``) passes untouched.

Uploads: the browser refuses files over the uploader's limit (web/session.py, MAX_UPLOAD_MB), and
the server refuses any request over ``server.maxUploadSize`` (.streamlit/config.toml) with HTTP
413; ``upload_too_large`` gives that 413 a body that says the limit and what to do.
"""

from __future__ import annotations

import re
from typing import Any

from .session import MIN_QUERY_HINT

CLOSED_PATHS = re.compile(r"(^|/)(_stcore/(metrics|agent|script-health-check)|auth|oauth2callback)(/.*)?$")
NOT_SERVED = b"Not found: this endpoint is closed in hum-search."
DEFAULT_MAX_UPLOAD_MB = 200  # Streamlit's own default, if the option cannot be read


def is_closed(path: str) -> bool:
    """Whether the server answers 404 for ``path`` (see the module docstring)."""
    return CLOSED_PATHS.search(path.rstrip("/") or "/") is not None


class Guard:
    """ASGI middleware: 404 for ``is_closed`` paths, everything else passed on."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and is_closed(scope.get("path", "")):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(NOT_SERVED)).encode())]})
            await send({"type": "http.response.body", "body": NOT_SERVED})
            return
        await self.app(scope, receive, send)


def max_upload_mb() -> float:
    try:
        from streamlit import config

        return float(config.get_option("server.maxUploadSize"))
    except Exception:
        return DEFAULT_MAX_UPLOAD_MB


def too_large_text(limit_mb: float) -> str:
    return (f"the upload is over this server's {limit_mb:.0f} MB limit (server.maxUploadSize). "
            f"Fix: upload a shorter clip; {MIN_QUERY_HINT} is enough")


async def upload_too_large(request: Any, exc: Any):
    """The 413 response: one line with the limit and the fix."""
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(too_large_text(max_upload_mb()), status_code=413)


def app_options() -> dict[str, Any]:
    """Keyword arguments for ``st.App`` in app.py."""
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(Guard)], "exception_handlers": {413: upload_too_large}}

"""Configuration from environment variables, each with a documented default.

| variable                      | default                                   | meaning                                   |
|-------------------------------|-------------------------------------------|-------------------------------------------|
| HUM_SEARCH_STORE              | $XDG_DATA_HOME/hum-search/index           | store: a directory (embedded) or an       |
|                               | (~/.local/share/hum-search/index)         | http(s):// Elasticsearch URL              |
| HUM_SEARCH_ES_URL             | unset                                     | Elasticsearch URL; used when no --store   |
|                               |                                           | and no HUM_SEARCH_STORE is given          |
| HUM_SEARCH_ES_INDEX           | hum-songs                                 | Elasticsearch alias name                  |
| HUM_SEARCH_ES_API_KEY         | unset                                     | Elasticsearch API key (preferred)         |
| HUM_SEARCH_ES_USER / _PASSWORD| unset                                     | Elasticsearch basic auth                  |
| HUM_SEARCH_ES_CA_CERTS        | unset                                     | CA bundle for a TLS cluster               |
| HUM_SEARCH_CACHE_DIR          | $XDG_CACHE_HOME/hum-search                | downloaded model weights                  |
|                               | (~/.cache/hum-search)                     |                                           |
| HUM_SEARCH_PANNS_CHECKPOINT   | unset                                     | explicit path to a Cnn14 checkpoint       |
| HUM_SEARCH_DEVICE             | auto                                      | auto, cpu or cuda (PANNs)                 |
| HUM_SEARCH_WORKERS            | number of CPU cores                       | parallel feature-extraction processes     |
| HUM_SEARCH_MAX_DURATION_S     | 3600                                      | longest song indexed, seconds             |
| HUM_SEARCH_MUSIC_ROOT         | unset                                     | web app: folder the UI may index and      |
|                               |                                           | serve audio from                          |
| HUM_SEARCH_LOG_LEVEL          | WARNING                                   | logging level of the library              |
| HUM_SEARCH_KIBANA_URL         | http://localhost:5601                     | Kibana, for `hum-search kibana-setup`     |
| HUM_SEARCH_SOUNDFONT          | Debian's FluidR3_GM.sf2                   | General MIDI soundfont for the demo       |
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

IGNORE_MARKER = ".hum-search-ignore"  # a folder holding this file (and its sub-folders) is not indexed
DEFAULT_KIBANA_URL = "http://localhost:5601"


def utc_now() -> str:
    """The current time as ISO 8601 UTC, whole seconds (``indexed_at``, failure records)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var) or os.path.join(os.path.expanduser("~"), fallback)
    return Path(base)


def default_store_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / "hum-search" / "index"


def default_cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache") / "hum-search"


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        from .errors import HumSearchError

        raise HumSearchError(f"{name}={value!r} is not a whole number", f"set {name} to e.g. {default}")


@dataclass(frozen=True)
class Settings:
    store: str = field(default_factory=lambda: str(default_store_dir()))
    es_index: str = "hum-songs"
    es_api_key: str | None = None
    es_user: str | None = None
    es_password: str | None = None
    es_ca_certs: str | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    panns_checkpoint: str | None = None
    device: str = "auto"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_duration_s: int = 3600
    music_root: str | None = None
    log_level: str = "WARNING"
    kibana_url: str = DEFAULT_KIBANA_URL

    @classmethod
    def from_env(cls) -> "Settings":
        store = _env("HUM_SEARCH_STORE") or _env("HUM_SEARCH_ES_URL") or str(default_store_dir())
        return cls(
            store=store,
            es_index=_env("HUM_SEARCH_ES_INDEX") or "hum-songs",
            es_api_key=_env("HUM_SEARCH_ES_API_KEY"),
            es_user=_env("HUM_SEARCH_ES_USER"),
            es_password=_env("HUM_SEARCH_ES_PASSWORD"),
            es_ca_certs=_env("HUM_SEARCH_ES_CA_CERTS"),
            cache_dir=Path(_env("HUM_SEARCH_CACHE_DIR") or default_cache_dir()),
            panns_checkpoint=_env("HUM_SEARCH_PANNS_CHECKPOINT"),
            device=(_env("HUM_SEARCH_DEVICE") or "auto").lower(),
            workers=max(1, _env_int("HUM_SEARCH_WORKERS", os.cpu_count() or 1)),
            max_duration_s=_env_int("HUM_SEARCH_MAX_DURATION_S", 3600),
            music_root=_env("HUM_SEARCH_MUSIC_ROOT"),
            log_level=(_env("HUM_SEARCH_LOG_LEVEL") or "WARNING").upper(),
            kibana_url=_env("HUM_SEARCH_KIBANA_URL") or DEFAULT_KIBANA_URL,
        )


def is_es_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))

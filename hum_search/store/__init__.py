"""Stores: ``open_store`` picks the backend from the location (a directory, or an http(s) URL)."""

from __future__ import annotations

from ..config import Settings, is_es_url
from ..types import (
    FileState,
    IndexSpec,
    MelodyFeatures,
    SegmentHit,
    SongHit,
    SongMeta,
    SongRecord,
    StoreFailure,
    StoreStats,
)
from .base import Store
from .elastic.store import ElasticsearchStore
from .embedded import EmbeddedStore

__all__ = [
    "FileState", "IndexSpec", "MelodyFeatures", "SegmentHit", "SongHit", "SongMeta", "SongRecord", "Store",
    "StoreFailure", "StoreStats", "open_store",
]


def open_store(location: str | None, spec: IndexSpec, *, create: bool = False,
               settings: Settings | None = None) -> Store:
    """Open the store at ``location`` (default: settings.store). ``create=True`` creates a missing
    one (indexing); otherwise a missing store raises StoreNotFoundError (searching)."""
    settings = settings or Settings.from_env()
    location = location or settings.store
    if is_es_url(location):
        return ElasticsearchStore(location, spec, create=create, settings=settings)
    return EmbeddedStore(location, spec, create=create)

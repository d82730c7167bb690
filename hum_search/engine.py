"""The front door: ``open_engine(settings)`` returns a ready ``Engine`` (store, searcher, sound model).

Every front end (the CLI commands, the web app, ``hum-search eval``, ``python -m indexer``) opens
its store and models here and nowhere else, so that one configuration behaves the same everywhere:

    with open_engine(settings, sound="off") as engine:
        response = engine.search("hum.wav", top=10)

The sound channel ("sounds like", PANNs) follows one policy, ``sound=``:

- ``"off"``: not loaded (humming search needs no PANNs);
- ``"auto"``: loaded when a checkpoint is available; a missing or unusable checkpoint turns the
  channel off and ``engine.sound.off`` says why (an error object with its cause and fix), which each
  front end shows;
- ``"required"``: any reason it cannot be loaded is raised.

In every policy but ``"off"``, a device that was asked for explicitly and is missing
(``HUM_SEARCH_DEVICE=cuda`` or ``--device cuda`` without CUDA) raises ``DeviceError``: the setting
is wrong, and a channel that silently ran elsewhere would hide it. ``sound=`` also takes a
``SoundChannel`` loaded earlier (the web app keeps one per process across store changes).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .config import Settings, is_es_url
from .errors import (
    DeviceError,
    HumSearchError,
    ModelError,
    StoreFeaturesError,
    one_line,
)
from .features.audio import AudioSource
from .features.extract import current_spec
from .features.sound import SoundEmbedder, unavailable_reason
from .indexing.run import IndexReport, index_paths
from .search.searcher import Searcher, SearchResponse
from .store import Store, open_store
from .store import rebuild as store_rebuild
from .types import IndexSpec

log = logging.getLogger(__name__)

SOUND_POLICIES = ("auto", "required", "off")


@dataclass
class SoundChannel:
    """The PANNs embedder, or why there is none (``off``: an error with cause and fix)."""

    embedder: SoundEmbedder | None
    off: HumSearchError | None = None

    @property
    def device(self) -> str | None:
        return str(self.embedder.device) if self.embedder is not None else None


def load_sound(settings: Settings, policy: str = "auto") -> SoundChannel:
    """The sound channel under ``policy`` (see the module docstring). Never downloads anything."""
    if policy not in SOUND_POLICIES:
        raise ValueError(f"sound policy must be one of {SOUND_POLICIES}, not {policy!r}")
    if policy == "off":
        return SoundChannel(None, ModelError("sound channel off (not requested)",
                                             "hum-search query --mode sound loads it"))
    reason = unavailable_reason(settings)
    if reason is not None:
        if policy == "required":
            raise reason
        return SoundChannel(None, reason)
    try:
        return SoundChannel(SoundEmbedder.load(settings, device=settings.device))
    except DeviceError:
        raise
    except HumSearchError as e:
        if policy == "required":
            raise
        return SoundChannel(None, e)
    except Exception as e:  # a broken torch install must not take humming search down
        log.debug("loading the sound model failed", exc_info=True)
        err = ModelError(f"the sound model could not be loaded ({type(e).__name__}: {one_line(e)[:160]})",
                         "check HUM_SEARCH_PANNS_CHECKPOINT and the torch installation")
        if policy == "required":
            raise err from e
        return SoundChannel(None, err)


@dataclass
class Engine:
    """An open store, its searcher and the sound channel, for one configuration. Close it (or use
    it as a context manager) when done."""

    settings: Settings
    store: Store
    searcher: Searcher
    sound: SoundChannel

    def search(self, source: AudioSource, **kwargs: Any) -> SearchResponse:
        return self.searcher.search(source, **kwargs)

    def index(self, roots: Sequence[str], **kwargs: Any) -> IndexReport:
        """Index the audio files under ``roots`` into this engine's store (with sound embeddings
        when the sound channel is on). Keyword arguments go to ``indexing.index_paths``."""
        kwargs.setdefault("workers", self.settings.workers)
        return index_paths(self.store, roots, settings=self.settings, sound_embedder=self.sound.embedder, **kwargs)

    def close(self) -> None:
        self.searcher.close()
        self.store.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def index_spec() -> IndexSpec:
    """What the features this code writes mean (stores record it and refuse another)."""
    return current_spec()


def open_engine(settings: Settings | None = None, *, create: bool = False, sound: str | SoundChannel = "auto",
                location: str | None = None) -> Engine:
    """Open the store at ``location`` (default ``settings.store``) and build the searcher.

    ``create=True`` creates a missing store (indexing); otherwise a missing one raises
    StoreNotFoundError. The sound channel is loaded before the store is opened, so that a wrong
    device setting fails before anything is created."""
    settings = settings or Settings.from_env()
    if location is not None:
        settings = dataclasses.replace(settings, store=location)
    channel = sound if isinstance(sound, SoundChannel) else load_sound(settings, sound)
    store = open_store(settings.store, current_spec(), create=create, settings=settings)
    searcher = Searcher(store, sound_embedder=channel.embedder, sound_off=channel.off)
    return Engine(settings, store, searcher, channel)


# --- rebuilding a store of an earlier release's features (store/rebuild.py) ------------------------
@dataclass
class RebuildPlan:
    """``hum-search index DIR --force`` on an embedded store whose features another release computed:
    the new store is built at ``work`` from ``roots`` (the folders asked for, plus the files the old
    store recorded elsewhere that still exist), then put in the place of ``store``."""

    store: str
    work: str
    roots: list[str]
    carried: int  # files of the old store outside the folders asked for, indexed too
    missing: int  # songs of the old store whose files no longer exist (not in the new store)


def plan_rebuild(settings: Settings, folders: Sequence[str]) -> RebuildPlan | None:
    """The rebuild of ``settings.store`` from ``folders``, or None when it cannot be rebuilt in place
    (an Elasticsearch store: its StoreFeaturesError says how to index into a new index)."""
    if is_es_url(settings.store):
        return None
    under = [Path(f).expanduser().resolve() for f in folders]
    carried, missing = [], 0
    for path in store_rebuild.recorded_paths(settings.store):
        p = Path(path)
        if any(p == u or u in p.parents for u in under):
            continue
        if p.is_file():
            carried.append(path)
        else:
            missing += 1
    work = store_rebuild.rebuild_location(settings.store)
    return RebuildPlan(str(settings.store), str(work), [*folders, *carried], len(carried), missing)


def open_rebuild(plan: RebuildPlan, settings: Settings, *, sound: str | SoundChannel = "auto") -> Engine:
    """The engine of the new store (created, or continued after an interrupted rebuild; a rebuild
    left by yet another release is started over)."""
    settings = dataclasses.replace(settings, store=plan.work)
    try:
        return open_engine(settings, create=True, sound=sound)
    except StoreFeaturesError:
        store_rebuild.discard_unfinished(plan.work)
        return open_engine(settings, create=True, sound=sound)


def finish_rebuild(plan: RebuildPlan) -> None:
    """Put the complete new store in the place of the old one (after its engine was closed)."""
    store_rebuild.replace_store(plan.store, plan.work)

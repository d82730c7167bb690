"""The sound channel during indexing: a thread of the indexer that embeds the PANNs crops of several
analysed songs per ``SoundEmbedder.embed_batch`` call while the main thread keeps the workers busy
(torch releases the GIL).

PANNs is loaded once, by the engine, in the main process. The workers send the (at most 3) 10-s
32 kHz crops ``sound.make_crops`` picks; ``make_crops`` of the concatenated crops gives back exactly
the same crops, so the stored vector equals ``embed(whole song)`` (tested). Up to SOUND_BATCH_CROPS
crops go through one forward pass (batched on the GPU when there is one), and at most SOUND_BACKLOG
analysed songs wait for PANNs, which bounds memory when PANNs is the slower stage.

Why not PANNs inside each worker: on a CPU the total work is the same either way, and one Cnn14
per worker would cost ~0.3 GB of weights plus activations per process and could not batch on a
GPU. Measured on the 2-core development box (random-weight Cnn14, 16 songs of 80 s, 2 workers):
melody analysis 15.6 worker-seconds, PANNs 29.9 s for 48 crops (~0.6 s per 10-s crop), wall time
31.5 s, against 4.6 s with ``--no-sound``. So on a CPU-only machine the sound channel dominates
indexing time (``--no-sound`` skips it; ``download-models`` + ``--force`` adds it later). On a GPU
(an H200, 16 workers, 58 songs) PANNs took 1.6 s of 4.3 s, against 11.5 of 14.2 on that machine's
16 cores: there the workers' melody analysis limits indexing (docs/sound.md, "Measured on a GPU").
``IndexReport.analysis_seconds`` and ``sound_seconds`` show the split (printed in the summary).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import one_line
from ..features.sound import CROP_SAMPLES

log = logging.getLogger(__name__)

SOUND_BATCH_CROPS = 16  # 10 s crops per PANNs forward pass (sound.DEFAULT_BATCH_SIZE)
SOUND_BACKLOG = 32  # analysed songs waiting for PANNs at most (3.8 MB of crops each)


@dataclass
class Pending:
    """An analysed song on its way to the store: waiting for PANNs (``crops`` set) or for the next
    batch write."""

    task: Any  # changes.Task
    record: Any  # SongRecord
    crops: Any
    warnings: tuple[str, ...]


class SoundThread(threading.Thread):
    """Embeds the crops of analysed songs with PANNs, in batches. Songs go in through ``put`` and
    come back, with ``record.sound`` set (or a warning), from ``take``."""

    def __init__(self, embedder, batch_crops: int = SOUND_BATCH_CROPS):
        super().__init__(name="hum-search-sound", daemon=True)
        self.embedder = embedder
        self.batch_crops = batch_crops
        self.inbox: queue.Queue = queue.Queue()
        self.outbox: queue.Queue = queue.Queue()
        self.backlog = 0  # songs put and not yet taken (main thread only)
        self.seconds = 0.0

    @property
    def full(self) -> bool:
        """Back-pressure: do not analyse further ahead of PANNs than SOUND_BACKLOG songs."""
        return self.backlog >= SOUND_BACKLOG

    def put(self, item: Pending) -> None:
        self.backlog += 1
        self.inbox.put(item)

    def take(self, timeout: float | None = None) -> list[Pending]:
        out = []
        try:
            out.append(self.outbox.get(timeout=timeout) if timeout else self.outbox.get_nowait())
            while True:
                out.append(self.outbox.get_nowait())
        except queue.Empty:
            pass
        self.backlog -= len(out)
        return out

    def stop(self) -> None:
        self.inbox.put(None)

    def run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            items = [item]
            crops = len(item.crops) // CROP_SAMPLES
            while crops < self.batch_crops:
                try:
                    nxt = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.inbox.put(None)
                    break
                items.append(nxt)
                crops += len(nxt.crops) // CROP_SAMPLES
            t0 = time.perf_counter()
            try:
                self._embed(items)
            finally:
                self.seconds += time.perf_counter() - t0
                for p in items:
                    p.crops = None
                    self.outbox.put(p)

    def _embed(self, items: list[Pending]) -> None:
        try:
            vecs = self.embedder.embed_batch([p.crops for p in items], batch_size=self.batch_crops)
            for p, v in zip(items, vecs):
                p.record.sound = v
            return
        except Exception as e:  # one bad song (or a GPU hiccup) must not cost the others
            log.info("batched sound embedding failed (%s); embedding one song at a time", e)
        for p in items:
            try:
                p.record.sound = self.embedder.embed_batch([p.crops], batch_size=self.batch_crops)[0]
            except Exception as e:
                p.warnings = p.warnings + (f"indexed without a sound embedding ({one_line(e)})",)

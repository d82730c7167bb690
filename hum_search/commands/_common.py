"""Argument helpers and output helpers shared by the sub-commands (index, query, record, stats,
remove), so that ``--store``, ``--device``, ``--genre`` ... mean the same everywhere."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, TextIO

from ..config import DEVICE_CHOICES, DEVICE_HELP, Settings, check_device  # noqa: F401  (DEVICE_CHOICES re-exported)
from ..errors import ConfigError, one_line  # noqa: F401  (one_line re-exported for the commands)
from ..search.results import mmss  # noqa: F401  (one format for match positions, as the app shows them)

DEFAULT_TOP = 10


# --- arguments --------------------------------------------------------------------------------------
def add_store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store", metavar="PATH_OR_URL", default=None, type=store_location,
        help="index location: a folder (embedded store) or an http(s):// Elasticsearch URL "
             "(default: $HUM_SEARCH_STORE, else $HUM_SEARCH_ES_URL, else ~/.local/share/hum-search/index)",
    )


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device", default=None, metavar="auto|cpu|cuda", type=device_name,
        help="where the PANNs sound model runs: auto (CUDA when available), cpu, cuda or cuda:N "
             "(default: $HUM_SEARCH_DEVICE, else auto)",
    )


def add_search_args(p: argparse.ArgumentParser) -> None:
    """--top, --genre (repeatable) and --json, for the commands that search."""
    p.add_argument("--top", "-k", type=positive_int, default=DEFAULT_TOP, metavar="K",
                   help=f"number of results per query (default: {DEFAULT_TOP})")
    p.add_argument("--genre", "-g", action="append", default=None, metavar="G", dest="genres",
                   help="only songs of this genre (repeatable: any of the given genres)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per query per line instead of a table")


def add_mode_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=("hum", "sound"), default="hum",
                   help="hum: melody search (default); sound: songs that sound like the recording (PANNs)")


def store_location(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("give a folder or an http(s):// Elasticsearch URL, not an empty string")
    return text.strip()


def device_name(text: str) -> str:
    try:
        return check_device("--device", text)
    except ConfigError:
        raise argparse.ArgumentTypeError(f"{one_line(text)[:40]!r} is not a device: use {DEVICE_HELP}") from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by --store, --device and --workers where given."""
    settings = Settings.from_env()
    changes: dict[str, Any] = {}
    if getattr(args, "store", None):
        changes["store"] = args.store
    if getattr(args, "device", None):
        changes["device"] = args.device
    if getattr(args, "workers", None) is not None:
        changes["workers"] = args.workers
    return dataclasses.replace(settings, **changes) if changes else settings


# --- output -----------------------------------------------------------------------------------------
def json_line(obj: Any, file: TextIO | None = None) -> None:
    """Print ``obj`` as one line of strict JSON (NaN and infinities become null)."""
    print(json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False), file=file or sys.stdout, flush=True)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def song_label(title: str | None, artist: str | None, path: str | None) -> str:
    """'Title — Artist', or the file name when the song has no title tag."""
    name = title or (os.path.basename(path) if path else None) or "?"
    return f"{name} — {artist}" if artist else name


def stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def index_progress(label: str = "building the search index"):
    """A progress callback (songs done, songs in all) for index builds: a bar on a terminal, else
    one line when it is done."""
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        if sys.stderr.isatty():
            width = 30
            filled = int(width * done / max(total, 1))
            print(f"\r{label}: [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} songs",
                  end="\n" if done >= total else "", file=sys.stderr, flush=True)
        elif done >= total:
            stderr(f"{label}: {total:,} songs in {time.monotonic() - started:.0f} s")

    return show

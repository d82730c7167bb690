"""``hum-search download-models``: fetch the PANNs Cnn14 checkpoint for sound search, once.

The file (Cnn14_mAP=0.431.pth, 327 MB, Zenodo record 3987831) goes to
$HUM_SEARCH_CACHE_DIR/panns/ (default ~/.cache/hum-search/panns/). Its size, SHA-256 and MD5 are
checked before it is renamed into place, so a cut or corrupted download never gets used.
"""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..features.sound import CNN14_FILE, cached_checkpoint_path, download_checkpoint


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "download-models",
        help="download the PANNs Cnn14 checkpoint (327 MB) for sound search",
        description=(
            f"Download {CNN14_FILE.filename} (327 MB) into $HUM_SEARCH_CACHE_DIR/panns/ and check its "
            "SHA-256. Humming search works without it; sound search needs it. An already downloaded "
            "file is kept unless --force is given."
        ),
    )
    parser.add_argument("--force", action="store_true", help="download again even if the file is already there")
    parser.add_argument(
        "--url",
        metavar="URL",
        default=None,
        help="download from this mirror (http(s):// or file://) instead of Zenodo; the SHA-256 is checked all the same",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    target = cached_checkpoint_path(settings)
    if target.is_file() and not args.force:
        print(f"already downloaded (use --force to download again): {target}", file=sys.stderr)
    else:
        print(f"downloading {args.url or CNN14_FILE.url}", file=sys.stderr)
    path = download_checkpoint(settings, url=args.url, force=args.force, progress=not args.quiet)
    if settings.panns_checkpoint:
        print(
            f"note: HUM_SEARCH_PANNS_CHECKPOINT={settings.panns_checkpoint} is set and is used instead of this file",
            file=sys.stderr,
        )
    print(path)
    return 0

"""``hum-search record``: hum into the default microphone, then search like ``hum-search query``.

The recording (44.1 kHz mono, via ``sounddevice``/PortAudio) is turned into WAV bytes and passed to
``Searcher.search`` exactly like an uploaded file, so it goes through the same decoding path (``features.audio.decode``) as
files do.
"""

from __future__ import annotations

import argparse
import io

from ..errors import DeviceError
from ._common import (
    add_device_arg,
    add_mode_arg,
    add_search_args,
    add_store_arg,
    stderr,
)
from .query import open_search_engine, resolve_genres, search_and_print

SAMPLE_RATE = 44_100
DEFAULT_SECONDS = 8.0
MAX_SECONDS = 60.0
NO_DEVICE_FIX = ("connect a microphone (or enable it in the system's sound settings), "
                 "or record a hum with any app and run hum-search query FILE")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "record", help="hum into the microphone and search",
        description="Record from the default microphone for --seconds, then search the index with the recording "
                    "(like hum-search query). Hum or sing the tune for at least 5 seconds.",
        epilog="exit status: 0 searched; 1 the recording could not be searched (e.g. too little humming "
               "heard); 2 no microphone, no index or another setup problem.")
    p.add_argument("--seconds", "-s", type=_seconds, default=DEFAULT_SECONDS, metavar="N",
                   help=f"how long to record (default: {DEFAULT_SECONDS:g}; at most {MAX_SECONDS:g})")
    add_search_args(p)
    add_mode_arg(p)
    p.add_argument("--save", metavar="FILE.wav", default=None, help="also keep the recording in this WAV file")
    add_store_arg(p)
    add_device_arg(p)
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1.0 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_SECONDS:g} seconds")
    return value


def run(args: argparse.Namespace) -> int:
    with open_search_engine(args) as engine:  # before recording: no point humming into a missing index
        args.genres = resolve_genres(engine, args.genres)
        sd = import_sounddevice()
        name = input_device_name(sd)
        stderr(f"recording {args.seconds:g} s from {name}: hum now ...")
        samples = record(sd, args.seconds)
        stderr("recorded; searching ...")
        data = wav_bytes(samples)
        if args.save:
            with open(args.save, "wb") as f:
                f.write(data)
            stderr(f"saved the recording to {args.save}")
        ok = search_and_print(engine.searcher, data, f"microphone ({args.seconds:g} s)", args)
        return 0 if ok else 1


def import_sounddevice():
    """The ``sounddevice`` module, or DeviceError with the fix when it or PortAudio is missing."""
    try:
        import sounddevice
    except OSError as e:  # sounddevice raises OSError("PortAudio library not found")
        raise DeviceError(
            f"cannot record: the PortAudio library is missing ({' '.join(str(e).split())})",
            "install it (apt-get install libportaudio2), or record a hum with any app and run hum-search query FILE",
        ) from None
    except ImportError:
        raise DeviceError("cannot record: the sounddevice package is not installed",
                          "pip install sounddevice (see requirements.txt)") from None
    return sounddevice


def input_device_name(sd) -> str:
    """The default input device's name; DeviceError when there is none."""
    try:
        info = sd.query_devices(kind="input")
    except Exception as e:  # PortAudioError ("Error querying device -1") or a missing backend
        raise DeviceError(f"no microphone found: there is no default audio input device ({' '.join(str(e).split())})",
                          NO_DEVICE_FIX) from None
    if not info or int(info.get("max_input_channels", 0) or 0) < 1:
        raise DeviceError("no microphone found: the default audio device has no input channels", NO_DEVICE_FIX)
    return str(info.get("name") or "the default microphone")


def record(sd, seconds: float):
    """Mono float32 samples at SAMPLE_RATE from the default input device."""
    try:
        y = sd.rec(int(round(seconds * SAMPLE_RATE)), samplerate=SAMPLE_RATE, channels=1, dtype="float32")
        sd.wait()
    except KeyboardInterrupt:
        sd.stop()
        raise
    except Exception as e:  # PortAudioError: device busy, unplugged, unsupported rate ...
        raise DeviceError(f"recording from the microphone failed ({' '.join(str(e).split())})",
                          "check that no other program holds the microphone and that it is plugged in") from None
    return y.reshape(-1)


def wav_bytes(samples) -> bytes:
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.float32), SAMPLE_RATE, format="WAV", subtype="FLOAT")
    return buf.getvalue()

#!/usr/bin/env python3
"""The hum front end against the notes actually hummed, with a noise suppressor in front of it or
a trained pitch model in place of the tracker.

    # only for the denoisers other than none (--no-deps: the script needs neither package's audio I/O)
    .venv/bin/pip install --no-deps pyrnnoise==0.4.5 noisereduce==3.0.3
    .venv/bin/python benchmarks/front_end.py --data /tmp/qbh-medium-dw --profile wide --max-snr 10 \
        --denoisers none,rnnoise,noisereduce,noisereduce-stationary
    # only for the trackers other than hum
    .venv/bin/pip install --no-deps pesto-pitch==2.0.1 omegaconf==2.4.0 tqdm
    .venv/bin/python benchmarks/front_end.py --data /tmp/qbh-medium-dw --profile wide --max-snr 10 \
        --trackers hum,pesto,pesto-voiced

For every hum of a development-benchmark instance (``../shared/qbh``; its ``meta/query_notes.jsonl``
lists the notes each hum really sang, wrong notes included), the hum tracker (``pitch.track_hum``,
the ``HUM`` preset, or each tracker of ``--trackers``) runs on the decoded recording, after each
denoiser in turn. Reported per noise kind, SNR bucket, format and voice: frame accuracy (frames
inside a note, 30 ms in from either end, whose tracked pitch class is within half a semitone of the
note's) and voicing false alarms (frames outside every note that the tracker calls voiced), with
the CPU seconds per second of audio of the denoiser and of the tracker. Nothing here is part of a
search; this measures choices.

Denoisers (optional packages, not in requirements.txt; measured, not adopted):
- ``rnnoise``: RNNoise (Xiph's recurrent speech denoiser, 48 kHz frames of 10 ms) from the
  ``pyrnnoise`` wheel's bundled C library, called through ctypes (the package's own import pulls in
  audio I/O and plotting libraries that a denoiser does not need).
- ``noisereduce``: spectral gating (``noisereduce.reduce_noise``), non-stationary;
  ``noisereduce-stationary``: its stationary variant.

Measured 2026-12-01, 2-core machine, medium dev+wide instances, the ``wide`` hums under 10 dB SNR
(the command above), frame accuracy / voicing false alarms:

| hums | none | rnnoise | noisereduce | noisereduce-stationary |
|---|---|---|---|---|
| seed 0, 44 hums | 0.771 / 0.260 | 0.567 / 0.191 | 0.530 / 0.173 | 0.531 / 0.131 |
| seed 1, 38 hums | 0.808 / 0.239 | 0.532 / 0.215 | 0.507 / 0.156 | 0.508 / 0.128 |

Every noise kind loses (seed 0, none -> rnnoise: appliance 0.85 -> 0.64, crowd 0.74 -> 0.37, music
0.71 -> 0.56, room 0.82 -> 0.71). CPU per second of audio: rnnoise 0.047 s, noisereduce 0.021 s,
the tracker 0.004-0.007 s. Both suppressors are built for speech; the likely reason is that they take
a hum's held partials for noise (RNNoise's band gains are trained on speech's envelope; the gate's
noise estimate follows a held note), so the tracker loses notes (accuracy -0.20 to -0.30) for fewer
false alarms (-0.05 to -0.13), and what they remove from a steady background the tracker's own
stationary removal (``denoise.py``) already removes. Not adopted: nothing was added to requirements.txt.

Trackers (``--trackers``): ``hum``, ours; ``pesto``, PESTO (pesto-pitch 2.0.1, a self-supervised pitch
CNN trained on MIR-1K's singing, checkpoint ``mir-1k_g7`` from the wheel, 10 ms frames at 16 kHz),
every frame voiced; ``pesto-voiced``, frames under confidence 0.5 unvoiced. The same hums:

| hums | hum | pesto (all voiced) | pesto-voiced | CPU s per s: hum / pesto |
|---|---|---|---|---|
| seed 0, 44 hums | 0.771 / 0.260 | 0.791 / 1.000 | 0.653 / 0.378 | 0.005 / 0.148 |
| seed 1, 38 hums | 0.808 / 0.239 | 0.809 / 1.000 | 0.617 / 0.278 | 0.006 / 0.144 |

PESTO's pitch, where the hum is, is about as often right as ours (seed 0 / seed 1: crowd 0.74 / 0.75
-> 0.82 / 0.88, room 0.82 / 0.70 -> 0.76 / 0.69, music 0.71 / 0.76 -> 0.73 / 0.73), but only with every
frame called voiced; its own voicing decision costs more notes than it saves false alarms, and it
takes 30 times the tracker's CPU (a 10 s hum: 1.5 CPU-s, six times the whole query's latency
budget). Not adopted.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import sys
import time
import types
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from hum_search.evaluate import snr_bucket  # noqa: E402
from hum_search.features import pitch  # noqa: E402
from hum_search.features.audio import decode, resample  # noqa: E402

EDGE_S = 0.03  # seconds left out at either end of a note (onsets and glides)
IN_TUNE_ST = 0.5  # semitones: a frame within this of the note's pitch class is right
RNNOISE_SR = 48_000  # Hz: RNNoise's only rate
INT16_SCALE = 32767.0  # RNNoise works on 16-bit sample values held in floats

PESTO_SR = 16_000  # Hz: the rate PESTO's checkpoints were trained at
PESTO_MODEL = "mir-1k_g7"  # the checkpoint in the pesto-pitch 2.0.1 wheel that its own predict() defaults to
PESTO_VOICED = 0.5  # "pesto-voiced": frames under this confidence are unvoiced

Denoiser = Callable[[np.ndarray, int], tuple[np.ndarray, int]]
Tracker = Callable[[np.ndarray, int], np.ndarray]  # (samples, rate) -> MIDI pitch per 10 ms frame, NaN unvoiced


class MissingPackage(Exception):
    pass


class UnknownName(Exception):
    pass


def _rnnoise() -> Denoiser:
    spec = importlib.util.find_spec("pyrnnoise")
    lib_path = Path(spec.origin).parent / "librnnoise.so" if spec and spec.origin else None
    if lib_path is None or not lib_path.exists():
        raise MissingPackage("rnnoise: the pyrnnoise wheel is not installed; "
                             "fix: .venv/bin/pip install --no-deps pyrnnoise==0.4.5")
    lib = ctypes.CDLL(str(lib_path))
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    ptr = ctypes.POINTER(ctypes.c_float)
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ptr, ptr]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    frame = lib.rnnoise_get_frame_size()

    def run(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
        x = (resample(y, sr, RNNOISE_SR) * INT16_SCALE).astype(np.float32)
        out = np.zeros(len(x) // frame * frame, np.float32)
        state = lib.rnnoise_create(None)
        try:
            for i in range(0, len(out), frame):
                src = np.ascontiguousarray(x[i:i + frame])
                dst = out[i:i + frame]
                lib.rnnoise_process_frame(state, dst.ctypes.data_as(ptr), src.ctypes.data_as(ptr))
        finally:
            lib.rnnoise_destroy(state)
        return out / INT16_SCALE, RNNOISE_SR

    return run


def _noisereduce(stationary: bool) -> Denoiser:
    try:
        import noisereduce
    except ImportError:
        raise MissingPackage("noisereduce is not installed; "
                             "fix: .venv/bin/pip install --no-deps noisereduce==3.0.3") from None

    def run(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
        return noisereduce.reduce_noise(y=y, sr=sr, stationary=stationary, n_jobs=1).astype(np.float32), sr

    return run


DENOISERS: dict[str, Callable[[], Denoiser | None]] = {
    "none": lambda: None,
    "rnnoise": _rnnoise,
    "noisereduce": lambda: _noisereduce(False),
    "noisereduce-stationary": lambda: _noisereduce(True),
}


def _hum_tracker() -> Tracker:
    return lambda y, sr: pitch.track_hum(resample(y, sr, pitch.SAMPLE_RATE), pitch.HUM).f0


def _pesto(min_confidence: float) -> Tracker:
    """PESTO (pesto-pitch 2.0.1, a self-supervised pitch CNN whose checkpoints ship in the wheel) in
    place of the hum tracker; frames under ``min_confidence`` unvoiced (0: every frame voiced)."""
    try:
        import torch
    except ImportError:
        raise MissingPackage("pesto needs torch; fix: make setup") from None
    if "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio") is None:
        # pesto's package __init__ imports torchaudio for its file reader only, which this script does
        # not use; no torchaudio wheel runs with the CPU torch 2.13 this project pins
        sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    try:
        from pesto.loader import load_model
    except ImportError:
        raise MissingPackage("pesto: pesto-pitch is not installed; fix: .venv/bin/pip install --no-deps "
                             "pesto-pitch==2.0.1 omegaconf==2.4.0 tqdm") from None
    model = load_model(PESTO_MODEL, step_size=1000.0 / pitch.FRAME_RATE, sampling_rate=PESTO_SR).eval()

    def run(y: np.ndarray, sr: int) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(resample(y, sr, PESTO_SR), dtype=np.float32))
        with torch.inference_mode():
            midi, confidence = model(x, sr=PESTO_SR, convert_to_freq=False, return_activations=False)[:2]
        midi, confidence = midi.numpy().reshape(-1), confidence.numpy().reshape(-1)
        return np.where(confidence >= min_confidence, midi, np.nan)

    return run


TRACKERS: dict[str, Callable[[], Tracker]] = {
    "hum": _hum_tracker,
    "pesto": lambda: _pesto(0.0),
    "pesto-voiced": lambda: _pesto(PESTO_VOICED),
}


def frame_scores(f0_midi: np.ndarray, notes: list) -> tuple[float, float]:
    """(frame accuracy inside the notes, voicing false alarms outside them) of a tracker output."""
    t = np.arange(len(f0_midi)) / pitch.FRAME_RATE
    ref = np.full(len(f0_midi), np.nan)
    for start, end, midi, _kind in notes:
        ref[(t >= start + EDGE_S) & (t < end - EDGE_S)] = midi
    inside = ~np.isnan(ref)
    dist = np.abs((f0_midi[inside] - ref[inside] + 6.0) % 12.0 - 6.0)
    accuracy = float(np.mean(np.nan_to_num(dist, nan=12.0) < IN_TUNE_ST)) if inside.any() else float("nan")
    outside = ~inside
    false_alarm = float(np.mean(~np.isnan(f0_midi[outside]))) if outside.any() else 0.0
    return accuracy, false_alarm


def load_hums(data: Path, profile: str | None, max_snr: float | None, limit: int | None) -> list[dict]:
    notes = {}
    with open(data / "meta" / "query_notes.jsonl") as f:
        for line in f:
            row = json.loads(line)
            notes[row["query"]] = row["notes"]
    hums = []
    with open(data / "queries.jsonl") as f:
        for line in f:
            q = json.loads(line)
            if (profile and q.get("profile") != profile) or (max_snr is not None and q["snr_db"] >= max_snr):
                continue
            hums.append({**q, "notes": notes[q["query"]]})
    return hums[:limit] if limit else hums


def measure(data: Path, hums: list[dict], name: str, denoiser: Denoiser | None,
            tracker: Tracker) -> tuple[list[dict], float, float]:
    """Per hum: its groups and scores; and CPU seconds per second of audio of the denoiser and tracker."""
    rows, den_s, trk_s, audio_s = [], 0.0, 0.0, 0.0
    for q in hums:
        audio = decode(str(data / q["query"]))
        y, sr = audio.samples, audio.sr
        audio_s += len(y) / sr
        t0 = time.process_time()
        if denoiser is not None:
            y, sr = denoiser(y, sr)
        t1 = time.process_time()
        f0 = tracker(y, sr)
        t2 = time.process_time()
        den_s, trk_s = den_s + t1 - t0, trk_s + t2 - t1
        acc, fa = frame_scores(f0, q["notes"])
        rows.append({"query": q["query"], "front_end": name, "accuracy": acc, "false_alarm": fa,
                     "noise": q.get("noise"), "snr": snr_bucket(q["snr_db"]), "format": q.get("format"),
                     "voice": q.get("voice")})
    return rows, den_s / max(audio_s, 1e-9), trk_s / max(audio_s, 1e-9)


def report(rows: list[dict], names: list[str]) -> None:
    print("| factor | value | hums | " + " | ".join(f"{n}: accuracy / false alarms" for n in names) + " |")
    print("|---|---|---:|" + "---:|" * len(names))
    for factor in ("all", "noise", "snr", "format", "voice"):
        groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            groups["all" if factor == "all" else str(r[factor])][r["front_end"]].append(r)
        for value in sorted(groups):
            cells = []
            for n in names:
                g = groups[value][n]
                if not g:
                    cells.append("-")
                    continue
                acc, fa = np.nanmean([r["accuracy"] for r in g]), np.mean([r["false_alarm"] for r in g])
                cells.append(f"{acc:.3f} / {fa:.3f}")
            print(f"| {factor} | {value} | {len(groups[value][names[0]])} | " + " | ".join(cells) + " |")


def _names(arg: str, known: dict, what: str) -> list[str]:
    names = [n.strip() for n in arg.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UnknownName(f"unknown {what} {', '.join(unknown) or '(none given)'}; fix: --{what}s with any of "
                             f"{', '.join(known)}")
    return names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="a development-benchmark instance")
    ap.add_argument("--profile", help="only the hums of this degradation profile (dev, wide)")
    ap.add_argument("--max-snr", type=float, help="only hums under this SNR (dB)")
    ap.add_argument("--max-queries", type=int)
    ap.add_argument("--denoisers", default="none", help=f"comma-separated, of: {', '.join(DENOISERS)}")
    ap.add_argument("--trackers", default="hum", help=f"comma-separated, of: {', '.join(TRACKERS)} "
                    "(each after each denoiser)")
    ap.add_argument("--json", type=Path, help="write the per-hum rows here")
    a = ap.parse_args()
    if not (a.data / "meta" / "query_notes.jsonl").is_file():
        print(f"error: {a.data} is not a development-benchmark instance (no meta/query_notes.jsonl); fix: "
              "generate one with ../shared/qbh/generate.py", file=sys.stderr)
        return 2
    try:
        den_names, trk_names = _names(a.denoisers, DENOISERS, "denoiser"), _names(a.trackers, TRACKERS, "tracker")
        denoisers = {n: DENOISERS[n]() for n in den_names}
        trackers = {n: TRACKERS[n]() for n in trk_names}
    except (MissingPackage, UnknownName) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    hums = load_hums(a.data, a.profile, a.max_snr, a.max_queries)
    for t in trackers.values():  # warm-up: compiled code, FFT plans
        t(np.zeros(pitch.SAMPLE_RATE, np.float32), pitch.SAMPLE_RATE)
    rows, labels = [], []
    for d in den_names:
        for t in trk_names:
            label = d if t == "hum" else f"{d}+{t}"
            r, den_cost, trk_cost = measure(a.data, hums, label, denoisers[d], trackers[t])
            rows += r
            labels.append(label)
            print(f"{label}: {len(r)} hums; CPU s per s of audio: denoiser {den_cost:.3f}, tracker {trk_cost:.3f}")
    report(rows, labels)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

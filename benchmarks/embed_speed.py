#!/usr/bin/env python3
"""Batch speed of the sound embedder (PANNs Cnn14) on the CPU or a CUDA GPU.

    .venv/bin/python benchmarks/embed_speed.py --device cpu --clips 4 --batch-sizes 8,32
    python3 benchmarks/embed_speed.py --device cuda --compare --json /tmp/embed-speed.json
    python3 benchmarks/embed_speed.py --device cuda --checkpoint Cnn14_mAP=0.431.pth

Loads ``SoundEmbedder`` the way users do, from ``--checkpoint`` or, without one, from a Cnn14
checkpoint of random weights written to a temporary folder ({"model": state_dict}, the released
file's format; speed does not depend on the weights). Embeds ``--clips`` synthetic 30 s clips at
32 kHz (3 crops of 10 s each) with ``embed_batch`` at each batch size (counted in crops, as
``embed_batch`` counts them), after one warm-up batch, and prints clips/s, crops/s and ms per crop:
the median of ``--repeats`` timed runs of all of ``embed_batch`` (cropping, host-device copies,
forward passes, averaging). "fwd crops/s" is the model alone on one full batch (the median of up
to FORWARD_REPEATS passes, host-device copies included). ``--compare`` also embeds a few clips on
the CPU and prints the largest absolute difference between the two devices' unit-norm embeddings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hum_search.config import Settings  # noqa: E402
from hum_search.features import sound  # noqa: E402
from hum_search.features.sound import CROP_S, SAMPLE_RATE, SoundEmbedder, make_crops  # noqa: E402

CLIP_S = 30.0  # seconds per synthetic clip: MAX_CROPS (3) crops of CROP_S (10 s) each
DISTINCT_CLIPS = 8  # different signals, cycled to make --clips (the content does not change the speed)
COMPARE_CLIPS = 4  # clips embedded on both devices for --compare
DEFAULT_BATCH_SIZES = "1,8,32,128"  # crops per forward pass
FORWARD_REPEATS = 5  # timed forward passes of one batch (the model alone: no cropping, no averaging) ...
FORWARD_BUDGET_S = 2.0  # ... or fewer once this many seconds are spent (at least one)


def synthetic_clips(n: int, seconds: float = CLIP_S, seed: int = 0) -> list[np.ndarray]:
    """``n`` mono float32 clips at 32 kHz: a random harmonic tone plus noise, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    distinct = []
    for _ in range(min(n, DISTINCT_CLIPS)):
        f0 = rng.uniform(110.0, 880.0)  # Hz
        y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) + 0.1 * rng.standard_normal(len(t))
        distinct.append((0.5 * y / np.max(np.abs(y))).astype(np.float32))
    return [distinct[i % len(distinct)] for i in range(n)]


def write_random_checkpoint(folder: Path) -> Path:
    """A Cnn14 checkpoint of random weights, as tests/test_sound.py's ``random_checkpoint`` writes it."""
    import torch

    path = folder / "Cnn14_random.pth"
    torch.manual_seed(0)
    torch.save({"model": sound.build_cnn14().state_dict()}, path)
    return path


def time_batch_size(embedder: SoundEmbedder, clips: list[np.ndarray], batch_size: int, repeats: int) -> dict:
    """Median wall time of ``embed_batch(clips)`` at ``batch_size`` after one warm-up batch, and of
    one forward pass of a full batch alone."""
    crops_per_clip = len(make_crops(clips[0]))
    n_crops = crops_per_clip * len(clips)
    warm = clips[: -(-batch_size // crops_per_clip)]  # enough clips for one full batch
    embedder.embed_batch(warm, batch_size=batch_size)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        embedder.embed_batch(clips, batch_size=batch_size)  # returns host arrays: the GPU is done
        times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    batch = np.concatenate([make_crops(y) for y in warm])[:batch_size]
    return {
        "device": embedder.device,
        "batch_size": batch_size,
        "clips": len(clips),
        "crops": n_crops,
        "seconds": seconds,
        "clips_per_s": len(clips) / seconds,
        "crops_per_s": n_crops / seconds,
        "ms_per_crop": 1e3 * seconds / n_crops,
        "forward_crops_per_s": len(batch) / time_forward(embedder, batch),
    }


def time_forward(embedder: SoundEmbedder, batch: np.ndarray) -> float:
    """Median seconds of one forward pass of ``batch`` (host to device, Cnn14, device to host)."""
    times: list[float] = []
    while len(times) < FORWARD_REPEATS and sum(times) < FORWARD_BUDGET_S:
        t0 = time.perf_counter()
        embedder._forward(batch)  # returns a host array: the GPU is done
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def compare_with_cpu(embedder: SoundEmbedder, checkpoint: Path) -> dict:
    """The largest absolute difference (and the lowest cosine) between this device's and the CPU's
    embeddings of COMPARE_CLIPS clips."""
    cpu = SoundEmbedder.load(Settings(), checkpoint=checkpoint, device="cpu")
    clips = synthetic_clips(COMPARE_CLIPS, seed=1)
    a = embedder.embed_batch(clips)
    b = cpu.embed_batch(clips)
    return {"clips": len(clips), "max_abs_diff": float(np.max(np.abs(a - b))),
            "min_cosine": float(np.min(np.sum(a * b, axis=1)))}


def environment(device: str) -> dict:
    import torch

    env = {"torch": torch.__version__, "cpu_threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        env.update(gpu=torch.cuda.get_device_name(device), cudnn_tf32=torch.backends.cudnn.allow_tf32,
                   matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    return env


HEADER = (f"{'device':8} {'batch':>5} {'clips':>5} {'crops':>5} {'clips/s':>9} {'crops/s':>9} {'ms/crop':>9}"
          f" {'fwd crops/s':>11}")


def table_row(r: dict) -> str:
    return (f"{r['device']:8} {r['batch_size']:5d} {r['clips']:5d} {r['crops']:5d} "
            f"{r['clips_per_s']:9.2f} {r['crops_per_s']:9.2f} {r['ms_per_crop']:9.2f} {r['forward_crops_per_s']:11.2f}")


def run(args: argparse.Namespace, checkpoint: Path) -> dict:
    embedder = SoundEmbedder.load(Settings(), checkpoint=checkpoint, device=args.device)
    env = environment(embedder.device)
    print(f"{embedder!r}; {CLIP_S:.0f} s clips, {CROP_S:.0f} s crops; "
          + ", ".join(f"{k} {v}" for k, v in env.items()), flush=True)
    clips = synthetic_clips(args.clips)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    print(HEADER, flush=True)
    for batch_size in sizes:
        rows.append(time_batch_size(embedder, clips, batch_size, args.repeats))
        print(table_row(rows[-1]), flush=True)  # row by row: a run cut short keeps what it measured
    result = {"environment": env, "results": rows}
    if args.compare:
        result["compare_cpu"] = compare_with_cpu(embedder, checkpoint)
        c = result["compare_cpu"]
        print(f"{embedder.device} vs cpu on {c['clips']} clips: max abs diff {c['max_abs_diff']:.2e}, "
              f"min cosine {c['min_cosine']:.6f}")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    ap.add_argument("--checkpoint", type=Path, help="a Cnn14 .pth (default: random weights in a temp folder)")
    ap.add_argument("--clips", type=int, default=128, help="30 s clips per timed run (3 crops each)")
    ap.add_argument("--batch-sizes", default=DEFAULT_BATCH_SIZES, help="crops per forward pass, comma-separated")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per batch size (median reported)")
    ap.add_argument("--compare", action="store_true", help="also check the embeddings against the CPU's")
    ap.add_argument("--json", type=Path, help="write the results to this file as well")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="embed-speed-") as tmp:
        checkpoint = args.checkpoint or write_random_checkpoint(Path(tmp))
        result = run(args, checkpoint)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a long-video window's non-sampling time goes, and what shortens it: the Wan VAE decode of one
81-frame window (832x480) through `comfy.sd.VAE.decode` as the loop calls it, with and without cuDNN's
convolution autotuner, the raw decoder on the device (no copy to the host), the motion-frame encode, and
the colour match with the frames on the host vs already on the device.

    python bench/vae_decode.py [--host PATH] [--repeat 3] [--out F]
    python bench/vae_decode.py --tiny      # CPU smoke run
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import import_module
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adapter_forward as af  # noqa: E402
from long_video_windows import random_vae  # noqa: E402


def timed(fn, device, repeat: int) -> tuple[float, object]:
    """Median wall seconds of `repeat` calls after one warm-up call."""
    out = fn()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--host")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dims", help="JSON overriding the video dims")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    dims = af.bench_dims(args.tiny, args.dims)
    _, pack = af.boot(args.host, cpu=args.tiny or not torch.cuda.is_available())
    import comfy.model_management as mm

    colour = import_module(pack.__name__ + ".wan_multitalk.video.colour")
    device = mm.get_torch_device()
    vae = random_vae(dims["width"], device, args.tiny)
    frames, h, w = dims["frames"], dims["height"], dims["width"]
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(1, 16, (frames - 1) // 4 + 1, h // 8, w // 8, generator=g)
    tail = torch.rand(9 if frames > 9 else 5, h, w, 3, generator=g)
    reference = torch.rand(1, h, w, 3, generator=g)
    rows = {}
    with torch.inference_mode():
        def decode():
            return vae.decode(latent)

        rows["decode (comfy VAE.decode, to host)"], pixels = timed(decode, device, args.repeat)
        pixels = pixels.reshape(-1, h, w, 3)[:frames]
        on_device = latent.to(device, vae.vae_dtype)
        rows["decoder only (on device)"], _ = timed(lambda: vae.first_stage_model.decode(on_device), device, args.repeat)
        rows["motion encode (9 frames)"], _ = timed(lambda: vae.encode(tail), device, args.repeat)
        rows["colour match (frames on host)"], _ = timed(
            lambda: colour.match_colour(pixels.to(device), reference.to(device), 1.0).cpu(), device, args.repeat)
        pixels_dev = pixels.to(device)
        ref_dev = reference.to(device)
        rows["colour match (frames on device)"], _ = timed(
            lambda: colour.match_colour(pixels_dev, ref_dev, 1.0), device, args.repeat)
        rows["copy window device->host"], _ = timed(lambda: pixels_dev.cpu(), device, args.repeat)
        if device.type == "cuda":
            before = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True
            try:
                rows["decode, cudnn.benchmark on"], _ = timed(decode, device, args.repeat)
                rows["decoder only, cudnn.benchmark on"], _ = timed(
                    lambda: vae.first_stage_model.decode(on_device), device, args.repeat)
                rows["motion encode, cudnn.benchmark on"], _ = timed(lambda: vae.encode(tail), device, args.repeat)
            finally:
                torch.backends.cudnn.benchmark = before
    report = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "vae_dtype": str(vae.vae_dtype),
              "frames": frames, "size": [w, h], "repeat": args.repeat,
              "seconds": {k: round(v, 4) for k, v in rows.items()}}
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

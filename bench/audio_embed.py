"""Seconds and peak RSS to embed 1, 10 and 30 minutes of audio on the CPU with the full-size
chinese-wav2vec2-base configuration (random weights), through the same `encode_features` the node uses.

Each length runs in its own process so its peak RSS is its own. "Growth" is the peak minus the RSS
measured just before encoding (model built, audio in memory); the output tensor itself is
T x 12 x 768 float32, so growth should track that and nothing else.

    python bench/audio_embed.py [--minutes 1 10 30] [--threads 2] [--out results.json]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one(minutes: float, threads: int) -> dict:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    sys.path.insert(0, str(ROOT))
    from wan_multitalk.audio.features import encode_features

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                            conv_dim=(512,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
                            conv_bias=False, feat_extract_norm="group", do_stable_layer_norm=False,
                            num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16)
    model = Wav2Vec2Model(config).eval().requires_grad_(False)
    samples = int(minutes * 60 * 16000)
    t = torch.arange(samples, dtype=torch.float32) / 16000
    wave = 0.1 * torch.sin(2 * torch.pi * 180 * t) * (1 + torch.sin(2 * torch.pi * 3 * t)) + 0.01 * torch.randn(samples)
    del t
    before = rss_mib()
    start = time.perf_counter()
    features = encode_features(model, wave, fps=25.0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out_mib = features.numel() * features.element_size() / 2**20
    return {"minutes": minutes, "frames": int(features.shape[0]), "seconds": round(seconds, 1),
            "x_realtime": round(minutes * 60 / seconds, 2), "rss_before_mib": round(before), "peak_rss_mib": round(peak),
            "growth_mib": round(peak - before), "output_mib": round(out_mib), "audio_mib": round(samples * 4 / 2**20),
            "growth_minus_output_mib": round(peak - before - out_mib)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.threads)))
        return
    rows = []
    for minutes in args.minutes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(minutes), "--threads", str(args.threads)],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

"""Adapter overhead per step under the host's own speedups, each against the plain host forward in the same run:
sage attention (the host's `attention_sage`), fp8 fast matmul (fp8_e4m3fn_fast weights), EasyCache (steps skipped),
and the best combination (sage + fp8 + TorchCompileModel), for 1 / 2 / 4 speakers; plus the fraction of the
measured bf16 matmul peak the forward reaches on each path.

Full-size random weights (Wan 2.1 I2V 14B, the 2.49 B adapter), 832x480x81 (32,760 tokens), euler, cfg 1. A case
times the steps after the first (sampler callback + device synchronize): median for exact paths, mean for
EasyCache (its skipped steps are cheap). Ratios are only compared inside one run.

    python bench/host_speedups.py [--host PATH] [--configs sage,fp8,easycache,best] [--steps 3] [--out F]   # GPU
    python bench/host_speedups.py --dims '{"num_layers": 2}' --configs sage,fp8 --steps 1   # quick device check
    python bench/host_speedups.py --tiny --configs easycache,compile                                         # CPU
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from importlib import import_module
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adapter_forward as af  # noqa: E402

CONFIGS = {  # name: (sage, fp8 weights, TorchCompileModel, EasyCache)
    "baseline": (False, False, False, False), "sage": (True, False, False, False), "fp8": (False, True, False, False),
    "compile": (False, False, True, False), "easycache": (False, False, False, True), "best": (True, True, True, False),
}


def forward_flops(dims, speakers: int) -> float:
    """Multiply-adds x 2 of one forward: the DiT (self-attention, text + image cross-attention, FFN) and the
    adapter (q/out projections, frame-local audio attention, the speaker map for 2+ speakers)."""
    d, ffn, blocks = dims["dim"], dims["ffn_dim"], dims["num_layers"]
    frames = (dims["frames"] - 1) // 4 + 1
    frame_tokens = (dims["height"] // 16) * (dims["width"] // 16)
    tokens, context = frames * frame_tokens, 512 + 257
    block = 8 * tokens * d * d + 4 * tokens * tokens * d + 4 * tokens * d * d + 4 * context * d * d \
        + 4 * tokens * context * d + 4 * tokens * d * ffn
    if speakers:
        block += 4 * tokens * d * d + 4 * tokens * 32 * speakers * d
        if speakers > 1:
            block += 4 * tokens * frame_tokens * d
    return float(block * blocks)


def matmul_peak(device, dtype, size=8192, reps=10) -> float:
    """Dense matmul TFLOP/s on random data (the ceiling the forward is read against)."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * size ** 3 * reps / (time.perf_counter() - start) / 1e12


@contextlib.contextmanager
def host_attention(sage: bool):
    """What `--use-sage-attention` sets at start-up, switched per case: the host's optimized attention in its
    attention module (where the adapter asks for it) and in the Wan model (which bound it at import)."""
    import comfy.ldm.modules.attention as attention
    import comfy.ldm.wan.model as wan

    before = attention.optimized_attention, wan.optimized_attention
    chosen = attention.attention_sage if sage else before[0]
    attention.optimized_attention = wan.optimized_attention = chosen
    try:
        yield
    finally:
        attention.optimized_attention, wan.optimized_attention = before


def sage_error(device) -> dict:
    """attention_sage against the host's exact attention on one full-size self-attention (rel. L2 error)."""
    import comfy.ldm.modules.attention as attention

    g = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(1, 32760, 5120, device=device, dtype=torch.float16, generator=g) for _ in range(3))
    ref = attention.attention_pytorch(q, k, v, 40).float()
    out = attention.attention_sage(q, k, v, 40).float()
    return {"rel_l2": float((out - ref).norm() / ref.norm())}


def with_speedups(model, compile_: bool, easycache: bool):
    """The MODEL as the host's nodes return it: TorchCompileModel (inductor), then EasyCache (its defaults)."""
    if compile_:
        from comfy_extras.nodes_torch_compile import TorchCompileModel

        model = TorchCompileModel.execute(model, "inductor").args[0]
    if easycache:
        from comfy_extras.nodes_easycache import EasyCacheNode

        model = EasyCacheNode.execute(model, 0.2, 0.15, 0.95, False).args[0]
    return model


class LogTail:
    """The host's log lines since the last call (EasyCache reports its skipped steps there)."""

    def __init__(self):
        import logging

        self.lines: list[str] = []
        self.handler = logging.Handler()
        self.handler.emit = lambda record: self.lines.append(record.getMessage())
        logging.getLogger().addHandler(self.handler)
        logging.getLogger().setLevel(logging.INFO)

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines

    def close(self):
        import logging

        logging.getLogger().removeHandler(self.handler)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--host")
    ap.add_argument("--configs", default="baseline,sage,fp8,easycache,best")
    ap.add_argument("--speakers", default="1,2,4")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--dims", help="JSON overriding the model/video dims")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.steps < 2:
        ap.error("--steps must be at least 2: the first step is the warm-up, the rest are timed")
    dims = af.bench_dims(args.tiny, args.dims)
    _, pack = af.boot(args.host, cpu=args.tiny or not torch.cuda.is_available())
    import comfy.model_management as mm
    import comfy.samplers

    adapter = import_module(pack.__name__ + ".nodes.host.adapter")
    device = mm.get_torch_device()
    cuda = device.type == "cuda"
    wdtype = torch.bfloat16 if cuda else torch.float32
    logs = LogTail()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    wan_sd_meta = af.build_wan_state(dims, device, wdtype)
    models = {False: af.load_wan(wan_sd_meta, {})}
    handle = adapter.adapter_from_state_dict({k: v.cpu() for k, v in af.adapter_state(dims, device, wdtype).items()},
                                          {"config": json.dumps({"transformer": {"num_heads": dims["num_heads"]}})},
                                          "infinitetalk")
    report = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__, "dims": dims,
              "steps": args.steps, "build_s": round(time.perf_counter() - t0, 1), "checks": {}, "configs": {}}
    if cuda:
        report["checks"]["bf16_matmul_tflops"] = round(matmul_peak(device, torch.bfloat16), 1)
        report["checks"]["fp16_matmul_tflops"] = round(matmul_peak(device, torch.float16), 1)
        try:
            report["checks"]["sage_vs_exact"] = sage_error(device)
        except Exception as exc:  # no sageattention: the sage rows fail the same way, and say so
            report["checks"]["sage_vs_exact"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    print(json.dumps(report["checks"]), flush=True)
    lat_frames = (dims["frames"] - 1) // 4 + 1
    positive, negative = af.conditioning(dims, device, lat_frames)
    latent = torch.zeros(1, 16, lat_frames, dims["height"] // 8, dims["width"] // 8)
    # ours before plain: under TorchCompileModel, code compiled for the plain MODEL would also be matched by ours
    # (the host drops compile guards on transformer_options), so ours must compile first; the latents check it
    speakers = [int(s) for s in args.speakers.split(",")] + [0]

    for name in args.configs.split(","):
        sage, fp8, compile_, easycache = CONFIGS[name]
        if fp8 and True not in models:
            models[True] = af.load_wan(wan_sd_meta, {"dtype": torch.float8_e4m3fn, "fp8_optimizations": True})
        base = with_speedups(models[fp8], compile_, easycache)
        rows, latents = report["configs"].setdefault(name, {}), {}
        for s in speakers:
            label = "plain" if s == 0 else f"ours, {s} speaker(s)"
            start = time.perf_counter()
            logs.take()
            try:
                with host_attention(sage):
                    m = base if s == 0 else af.our_model(pack, base, handle, s, dims)
                    g = comfy.samplers.CFGGuider(m)
                    g.set_conds(positive, negative)
                    g.set_cfg(1.0)
                    row, latents[s] = af.time_case(g, latent, args.steps + (1 if easycache else 0), device, easycache)
                    row["s_per_step"] = round(row["s_per_step"], 4)
            except Exception as exc:  # a crash is a result too
                row = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            lines = "\n".join(logs.take())
            if easycache:
                row["steps_skipped"] = [int(n) for n in re.findall(r"EasyCache - skipped (\d+)/", lines)]
            if sage:  # the host falls back to exact attention when sage fails, and only logs it
                row["sage_fallbacks"] = lines.count("Error running sage attention")
            row["case_wall_s"] = round(time.perf_counter() - start, 1)
            if "s_per_step" in row:
                row["tflops"] = round(forward_flops(dims, s) / row["s_per_step"] / 1e12, 1)
                if cuda:
                    row["of_bf16_peak"] = round(row["tflops"] / report["checks"]["bf16_matmul_tflops"], 3)
            rows[label] = row
            print(json.dumps({name: {label: row}}), flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(report, indent=1))
            mm.soft_empty_cache()
        plain = rows.get("plain", {}).get("s_per_step")
        for s in speakers[:-1]:
            row = rows.get(f"ours, {s} speaker(s)", {})
            if plain and "s_per_step" in row:
                row["vs_plain"] = round(row["s_per_step"] / plain - 1, 4)
            if 0 in latents and s in latents:  # ~0 would mean the adapter did not run
                row["latent_rel_diff_vs_plain"] = round(float((latents[s] - latents[0]).norm() / latents[0].norm()), 4)
        print(json.dumps({name: rows}), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1))
    logs.close()
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

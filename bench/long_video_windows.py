"""Per-window wall time of the long-video loop, split into phases: audio/patch/VAE-encode preparation,
sampling, VAE decode, colour match, and handing frames to the sink.

Full-size random weights (Wan 2.1 I2V 14B, the 2.49 B adapter, a Wan 2.1 VAE at width 96), 832x480,
windows of 81 frames with 9 motion frames, 4 euler steps, InfiniteTalk mode, colour match on, one
pass per step (text cfg 1, audio cfg 1: a distill-LoRA setting) unless told otherwise. Phases are
timestamps from the loop's events with a device synchronize at each.

    python bench/long_video_windows.py [--host PATH] [--windows 3] [--steps 4] [--text-cfg 1 --audio-cfg 1]
                                       [--output-folder DIR] [--out F]
    python bench/long_video_windows.py --tiny      # CPU smoke run
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

PHASES = [("window_start", "encoded", "prepare (audio, patch, I2V + motion VAE encode)"),
          ("encoded", "sampled", "sampling"), ("sampled", "decoded", "VAE decode"),
          ("decoded", "coloured", "colour match"), ("coloured", "window_done", "to sink")]


def random_vae(width: int, device, tiny: bool):
    import comfy.ldm.wan.vae
    import comfy.sd

    dim = 8 if tiny else 96
    with torch.device("meta"):
        meta = comfy.ldm.wan.vae.WanVAE(dim=dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                        temperal_downsample=[False, True, True])
    torch.manual_seed(2)
    sd = {}
    for k, v in meta.state_dict().items():
        fan_in = max(1, v[0].numel()) if v.ndim > 1 else 1
        sd[k] = (torch.ones(v.shape) if k.endswith("gamma") else torch.randn(v.shape) / fan_in ** 0.5).to(device)
    return comfy.sd.VAE(sd=sd)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--host")
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--text-cfg", type=float, default=1.0)
    ap.add_argument("--audio-cfg", type=float, default=1.0)
    ap.add_argument("--output-folder", default="", help="stream frames to PNGs here (default: RAM)")
    ap.add_argument("--dims", help="JSON overriding the model/video dims")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    dims = af.bench_dims(args.tiny, args.dims)
    _, pack = af.boot(args.host, cpu=args.tiny or not torch.cuda.is_available())
    import comfy.clip_vision
    import comfy.model_management as mm
    import comfy.samplers

    adapter = import_module(pack.__name__ + ".nodes.host.adapter")
    runner = import_module(pack.__name__ + ".nodes.host.long_video")
    embeds_mod = import_module(pack.__name__ + ".wan_multitalk.embeds")
    device = mm.get_torch_device()
    wdtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = af.build_wan(dims, device, wdtype)
    handle = adapter.adapter_from_state_dict({k: v.cpu() for k, v in af.adapter_state(dims, device, wdtype).items()},
                                          {"config": json.dumps({"transformer": {"num_heads": dims["num_heads"]}})},
                                          "infinitetalk")
    vae = random_vae(dims["width"], device, args.tiny)

    window, motion = dims["frames"], 9 if dims["frames"] > 9 else 5
    total = window + (args.windows - 1) * (window - motion)
    g = torch.Generator().manual_seed(0)
    embeds = embeds_mod.SpeakerEmbeds(features=torch.randn(1, total, 12, 768, generator=g), fps=25.0,
                                      silence=torch.randn(12, 768, generator=g))
    clip = comfy.clip_vision.Output()
    clip["penultimate_hidden_states"] = torch.randn(1, 257, 1280, generator=g)
    reference = torch.rand(1, dims["height"], dims["width"], 3, generator=g)
    plan = runner.LongVideoPlan(vae=vae, width=dims["width"], height=dims["height"], window_size=window, motion=motion,
                         mode="infinitetalk", colour_strength=1.0, reference=reference, source_video=None,
                         source_fps=25.0, face_mask=None, denoise=1.0, clip_vision_output=clip,
                         output_folder=args.output_folder)
    positive = [[torch.randn(1, 512, dims["text_dim"], generator=g), {}]]
    negative = [[torch.randn(1, 512, dims["text_dim"], generator=g), {}]]
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", args.steps)
    sampler = comfy.samplers.sampler_object("euler")

    stamps: dict[int, dict[str, float]] = {}

    def hook(event, info):
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.setdefault(info["window"].index, {})[event] = time.perf_counter()

    job = runner.LongVideoJob(model, handle, embeds, plan, [positive], negative, sampler, sigmas,
                              runner.WindowNoise(0), (args.text_cfg, args.audio_cfg))
    start = time.perf_counter()
    with torch.inference_mode():  # as ComfyUI's executor runs every node
        frames, _ = runner.LongVideoRunner(observers=[hook]).run(job)
    wall = time.perf_counter() - start
    rows = []
    for index in sorted(stamps):
        s = stamps[index]
        row = {"window": index, "total_s": round(s["window_done"] - s["window_start"], 3)}
        for a, b, name in PHASES:
            row[name] = round(s[b] - s[a], 3)
        sampling = row["sampling"]
        row["non_sampling_share"] = round(1 - sampling / row["total_s"], 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "dims": dims, "window": window,
              "motion": motion, "frames": len(frames), "steps": args.steps, "text_cfg": args.text_cfg,
              "audio_cfg": args.audio_cfg, "output_folder": args.output_folder, "wall_s": round(wall, 1), "windows": rows}
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

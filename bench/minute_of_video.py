"""A minute of two-speaker video (1,500 frames at 25 fps, 81-frame windows, motion 9, 4 euler steps) end to end:
our long-video sampler against the host's native InfiniteTalk chained window by window, as its workflow does it
(WanInfiniteTalkToVideo -> KSampler -> VAE decode, the whole video so far as previous_frames), both at text cfg 1
with no audio guidance; ours also at audio cfg 2; ours with the host's speedups (sage, fp8 fast, TorchCompileModel).

Full-size random weights (Wan 2.1 I2V 14B, the 2.49 B adapter / the native patch with the same weights, a Wan 2.1
VAE), 832x480. Per-window wall times with a device synchronize; every run sees the same process and model.

    python bench/minute_of_video.py [--host PATH] --runs native:3,ours:3,ours_audio2:2 [--out F]
    python bench/minute_of_video.py [--host PATH] --runs native@sage+fp8:2,ours@sage+fp8+compile:1500f [--out F]
    python bench/minute_of_video.py --tiny --dims '{"dim": 320, "num_heads": 40}' --runs native:2,ours:2  # CPU smoke
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adapter_forward as af  # noqa: E402
import host_speedups as hs  # noqa: E402
from long_video_windows import random_vae  # noqa: E402

FPS, SPEAKERS = 25.0, 2


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def frames_for(windows: int, window: int, motion: int) -> int:
    return window + (windows - 1) * (window - motion)


@dataclass
class Scene:
    """What every run of the process shares: the pack, the VAE, sizes, device, random inputs, steps."""

    pack: object
    vae: object
    dims: dict
    device: torch.device
    inputs: dict
    steps: int


def run_ours(scene: Scene, model, handle, total: int, audio_cfg: float) -> dict:
    """Our long-video sampler (as MTS_LongVideoSampler runs it) over `total` frames; per-window wall times."""
    import comfy.samplers

    dims, inputs, vae = scene.dims, scene.inputs, scene.vae
    runner = import_module(scene.pack.__name__ + ".nodes.host.long_video")
    embeds_mod = import_module(scene.pack.__name__ + ".wan_multitalk.embeds")
    window, motion = dims["frames"], 9 if dims["frames"] > 9 else 5
    embeds = embeds_mod.SpeakerEmbeds(features=inputs["features"][:, :total], fps=FPS, silence=inputs["silence"])
    plan = runner.LongVideoPlan(vae=vae, width=dims["width"], height=dims["height"], window_size=window, motion=motion,
                                mode="infinitetalk", colour_strength=1.0, reference=inputs["reference"],
                                source_video=None, source_fps=FPS, face_mask=None, denoise=1.0,
                                clip_vision_output=inputs["clip"], output_folder="")
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", scene.steps)
    job = runner.LongVideoJob(model, handle, embeds, plan, [inputs["positive"]], inputs["negative"],
                              comfy.samplers.sampler_object("euler"), sigmas, runner.WindowNoise(0), (1.0, audio_cfg))
    done = []

    def hook(event, info):
        if event in ("window_start", "window_done"):
            sync(scene.device)
            done.append((event, time.perf_counter()))
            if event == "window_done":  # progress in the log, should a time limit cut the run
                print(json.dumps({"ours window": info["window"].index + 1, "s": round(done[-1][1] - done[-2][1], 2)}),
                      flush=True)

    start = time.perf_counter()
    with torch.inference_mode():  # as ComfyUI's executor runs every node
        frames, _ = runner.LongVideoRunner(observers=[hook]).run(job)
    sync(scene.device)
    wall = time.perf_counter() - start
    starts = [t for e, t in done if e == "window_start"]
    ends = [t for e, t in done if e == "window_done"]
    return {"frames": int(frames.shape[0]), "wall_s": round(wall, 2),
            "window_s": [round(b - a, 2) for a, b in zip(starts, ends)]}


def run_native(scene: Scene, model, patcher, total: int) -> dict:
    """The native InfiniteTalk workflow chained by hand: each window gets the whole video so far as
    previous_frames (the node reads its audio offset from its length), KSampler at cfg 1, decode, trim, append."""
    import comfy.model_management as mm
    import nodes
    from comfy_extras.nodes_wan import WanInfiniteTalkToVideo

    dims, inputs, vae = scene.dims, scene.inputs, scene.vae
    window, motion = dims["frames"], 9 if dims["frames"] > 9 else 5
    h, w = dims["height"], dims["width"]
    masks = torch.zeros(2, h, w)
    masks[0, :, : w // 2] = 1
    masks[1, :, w // 2:] = 1
    mode = {"mode": "two_speakers", "audio_encoder_output_2": inputs["native_audio"][1], "mask_1": masks[:1],
            "mask_2": masks[1:]}
    video, rows, start = None, [], time.perf_counter()
    with torch.inference_mode():
        while video is None or video.shape[0] < total:
            t0 = time.perf_counter()
            out = WanInfiniteTalkToVideo.execute(mode, model, patcher, inputs["positive"], inputs["negative"], vae, w, h,
                                                 window, inputs["native_audio"][0], motion,
                                                 start_image=inputs["reference"], previous_frames=video,
                                                 audio_scale=1.0, clip_vision_output=inputs["clip"]).args
            patched, positive, negative, latent, trim = out
            sync(scene.device)
            t1 = time.perf_counter()
            seed = len(rows)
            samples = nodes.common_ksampler(patched, seed, scene.steps, 1.0, "euler", "simple", positive, negative,
                                            latent)[0]
            sync(scene.device)
            t2 = time.perf_counter()
            images = vae.decode(samples["samples"])
            images = images.reshape(-1, *images.shape[-3:])[:window]
            sync(scene.device)
            t3 = time.perf_counter()
            new = images[trim:] if video is not None else images
            video = new if video is None else torch.cat([video, new])  # what the workflow's image batch does
            t4 = time.perf_counter()
            rows.append({"node_s": round(t1 - t0, 2), "sampling_s": round(t2 - t1, 2), "decode_s": round(t3 - t2, 2),
                         "append_s": round(t4 - t3, 2), "window_s": round(t4 - t0, 2)})
            print(json.dumps({"native window": len(rows), **rows[-1]}), flush=True)
            mm.soft_empty_cache()
    return {"frames": int(video.shape[0]), "wall_s": round(time.perf_counter() - start, 2),
            "window_s": [r["window_s"] for r in rows], "phases": rows}


def inputs_for(dims, total, device) -> dict:
    """Random two-speaker audio (our features and the native node's wav2vec2 layer outputs), prompts, reference."""
    import comfy.clip_vision

    g = torch.Generator().manual_seed(0)
    clip = comfy.clip_vision.Output()
    clip["penultimate_hidden_states"] = torch.randn(1, 257, 1280, generator=g)
    features = torch.randn(SPEAKERS, total, 12, 768, generator=g)
    # the native node reads 13 hidden states at 50 Hz (it drops the first and resamples to 25 fps)
    native = [{"encoded_audio_all_layers": [torch.randn(1, 2 * total, 768, generator=g) for _ in range(13)]}
              for _ in range(SPEAKERS)]
    return {"clip": clip, "features": features, "silence": torch.randn(12, 768, generator=g),
            "native_audio": native, "reference": torch.rand(1, dims["height"], dims["width"], 3, generator=g),
            "positive": [[torch.randn(1, 512, dims["text_dim"], generator=g), {}]],
            "negative": [[torch.randn(1, 512, dims["text_dim"], generator=g), {}]]}


def extrapolate(run: dict, windows: int) -> float | None:
    """A run's first window plus its later windows' median for the rest: seconds for `windows` windows."""
    times = run.get("window_s") or []
    if len(times) < 2:
        return None
    later = sorted(times[1:])[len(times[1:]) // 2]
    return round(times[0] + later * (windows - 1), 1)


def parse_runs(text: str, window: int, motion: int) -> list[tuple[str, set, int]]:
    """"name[@speedup+speedup]:N" (N windows) or ":Nf" (N frames); names: native, ours, ours_audio2."""
    runs = []
    for spec in text.split(","):
        head, count = spec.split(":")
        name, _, speedups = head.partition("@")
        total = int(count[:-1]) if count.endswith("f") else frames_for(int(count), window, motion)
        runs.append((name, set(filter(None, speedups.split("+"))), total))
    return runs


class Models:
    """The host MODEL for a run's weights, fp8_e4m3fn_fast or as stored, built when a run first needs it; the other
    one is unloaded first, so a run at the host's default settings and one at fp8 can share a process."""

    FP8 = {"dtype": torch.float8_e4m3fn, "fp8_optimizations": True}

    def __init__(self, state):
        self.state, self.fp8, self.model = state, None, None

    def get(self, fp8: bool):
        import comfy.model_management as mm

        if self.model is None or self.fp8 != fp8:
            self.model = None
            mm.unload_all_models()
            mm.soft_empty_cache()
            self.fp8, self.model = fp8, af.load_wan(self.state, self.FP8 if fp8 else {})
        return self.model


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--host")
    ap.add_argument("--runs", default="native:3,ours:3,ours_audio2:2",
                    help="name[@speedups]:N windows or :Nf frames; names native, ours, ours_audio2; speedups joined "
                         "by '+' from sage, fp8, compile, easycache (e.g. ours@sage+fp8+compile:1500f)")
    ap.add_argument("--minute-frames", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--dims", help="JSON overriding the model/video dims (the native patch needs 40 heads)")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    dims = af.bench_dims(args.tiny, args.dims)
    _, pack = af.boot(args.host, cpu=args.tiny or not torch.cuda.is_available())
    import comfy.model_management as mm

    adapter = import_module(pack.__name__ + ".nodes.host.adapter")
    windows_mod = import_module(pack.__name__ + ".wan_multitalk.video.windows")
    device = mm.get_torch_device()
    wdtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    window, motion = dims["frames"], 9 if dims["frames"] > 9 else 5
    runs = parse_runs(args.runs, window, motion)
    t0 = time.perf_counter()
    models = Models(af.build_wan_state(dims, device, wdtype))
    adapter_sd = af.adapter_state(dims, device, wdtype)
    handle = adapter.adapter_from_state_dict({k: v.cpu() for k, v in adapter_sd.items()},
                                          {"config": json.dumps({"transformer": {"num_heads": dims["num_heads"]}})},
                                          "infinitetalk")
    vae = random_vae(dims["width"], device, args.tiny)
    minute_windows = len(windows_mod.split_windows(args.minute_frames, window, motion))
    scene = Scene(pack, vae, dims, device, inputs_for(dims, max(total for _, _, total in runs), device), args.steps)
    logs = hs.LogTail()
    report = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
              "dims": dims, "steps": args.steps, "speakers": SPEAKERS, "build_s": round(time.perf_counter() - t0, 1),
              "minute_windows": minute_windows, "runs": {}}
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}), flush=True)
    for name, speedups, total in runs:
        logs.take()
        model = models.get("fp8" in speedups)
        try:
            with hs.host_attention("sage" in speedups):
                if name == "native":
                    run = run_native(scene, hs.with_speedups(model, "compile" in speedups, "easycache" in speedups),
                                     af.native_patch(adapter_sd, dims, model.model_dtype()), total)
                else:
                    run = run_ours(scene, hs.with_speedups(model, "compile" in speedups, "easycache" in speedups),
                                   handle, total, 2.0 if name == "ours_audio2" else 1.0)
            run["minute_s_extrapolated"] = extrapolate(run, minute_windows)
        except Exception as exc:  # a crash is a result too
            run = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        lines = "\n".join(logs.take())
        run["sage_fallbacks"] = lines.count("Error running sage attention")
        run["easycache_skipped"] = [int(n) for n in re.findall(r"EasyCache - skipped (\d+)/", lines)]
        key = f"{name}@{'+'.join(sorted(speedups)) or 'default'}:{total}"
        report["runs"][key] = run
        print(json.dumps({key: run}), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1))
        mm.soft_empty_cache()
    logs.close()
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

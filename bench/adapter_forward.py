"""Seconds per sampling step and GPU memory: the host's plain Wan 2.1 I2V 14B, ours with 1/2/4 speakers,
cfg 2 batched, the text+audio guider, and the host's native InfiniteTalk patch, all in ONE process.

Full-size random weights (N(0, 0.02)), 832x480x81 (32,760 tokens), euler, one warm-up step then the median
of the timed steps (sampler callback + device synchronize). Ratios are only compared inside one run.

    python bench/adapter_forward.py [--host PATH] [--steps 4] [--out results.json]    # GPU
    python bench/adapter_forward.py --tiny                                              # CPU smoke run
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

FULL = dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40, text_dim=4096, width=832, height=480, frames=81,
            intermediate=512)
TINY = dict(dim=64, ffn_dim=128, num_heads=2, num_layers=2, text_dim=32, width=64, height=48, frames=9, intermediate=32)


def bench_dims(tiny: bool, override: str | None) -> dict:
    """FULL or TINY sizes with a --dims JSON laid over them (fewer blocks for a quick check on the device; the
    native patch needs 40 heads)."""
    return dict(TINY if tiny else FULL, **json.loads(override or "{}"))


def loaded_pack():
    """This pack as a host in this process already loaded it (the bench smoke tests), else None: the module named
    after the pack's folder path, as `nodes.load_custom_node` names it (a test runner may import another copy)."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == ROOT / "__init__.py" and Path(name.replace("_x_", ".")).is_absolute():
            return module
    return None


def boot(host_path: str | None, cpu: bool):
    """The host's model stack without its web server, with this pack loaded from its folder (or the host and pack
    this process already runs)."""
    import asyncio

    pack = loaded_pack()
    if pack is not None and "comfy.model_management" in sys.modules:
        return None, pack
    sys.path.insert(0, str(ROOT / "bench"))
    import offline_stubs

    stubbed = offline_stubs.install()
    from comfy_host import find_host

    root = Path(host_path) if host_path else find_host()[0]
    sys.path.insert(0, str(root))
    import comfy.options  # noqa: F401
    from comfy.cli_args import args

    args.cpu = cpu
    import nodes

    if not asyncio.run(nodes.load_custom_node(str(ROOT))):
        raise SystemExit("the pack did not load")
    pack = sys.modules[str(ROOT).replace(".", "_x_")]
    print(f"host {root}; stubbed modules: {stubbed or 'none'}", flush=True)
    return root, pack


def random_state(module_on_meta, device, dtype, seed=0):
    torch.manual_seed(seed)
    return {k: torch.empty(v.shape, device=device, dtype=dtype).normal_(0, 0.02) for k, v in module_on_meta.state_dict().items()}


def build_wan_state(dims, device, dtype) -> tuple[dict, dict]:
    """A random Wan 2.1 I2V state dict of the host's own WanModel, and the file metadata UNETLoader would read."""
    import comfy.ldm.wan.model
    import comfy.ops

    with torch.device("meta"):
        meta = comfy.ldm.wan.model.WanModel(model_type="i2v", in_dim=36, dim=dims["dim"], ffn_dim=dims["ffn_dim"],
                                            text_dim=dims["text_dim"], out_dim=16, num_heads=dims["num_heads"],
                                            num_layers=dims["num_layers"], operations=comfy.ops.disable_weight_init)
    metadata = {"config": json.dumps({"transformer": {"num_heads": dims["num_heads"], "text_dim": dims["text_dim"]}})}
    return random_state(meta, device, dtype), metadata


def load_wan(state: tuple[dict, dict], model_options: dict):
    """The MODEL as UNETLoader makes it (model_options: its weight_dtype choice, e.g. fp8_e4m3fn_fast)."""
    import comfy.sd

    sd, metadata = state
    return comfy.sd.load_diffusion_model_state_dict(dict(sd), model_options=dict(model_options), metadata=metadata)


def build_wan(dims, device, dtype):
    return load_wan(build_wan_state(dims, device, dtype), {})


def adapter_state(dims, device, dtype):
    import adapter_factory

    with torch.device("meta"):
        meta = adapter_factory.make_adapter_state_dict(num_blocks=dims["num_layers"], dim=dims["dim"],
                                                       intermediate=dims["intermediate"], dtype=torch.float32)
    torch.manual_seed(1)
    return {k: torch.empty(v.shape, device=device, dtype=dtype).normal_(0, 0.02) for k, v in meta.items()}


def conditioning(dims, device, lat_frames, seed=0):
    import comfy.clip_vision

    g = torch.Generator().manual_seed(seed)
    h8, w8 = dims["height"] // 8, dims["width"] // 8
    clip = comfy.clip_vision.Output()
    clip["penultimate_hidden_states"] = torch.randn(1, 257, 1280, generator=g)
    concat = torch.randn(1, 16, lat_frames, h8, w8, generator=g)
    mask = torch.ones(1, 1, lat_frames, h8, w8)
    mask[:, :, :1] = 0
    extra = {"concat_latent_image": concat, "concat_mask": mask, "clip_vision_output": clip}
    return [[torch.randn(1, 512, dims["text_dim"], generator=g), dict(extra)]], \
           [[torch.randn(1, 512, dims["text_dim"], generator=g), dict(extra)]]


def strip_token_masks(pack, speakers, dims):
    masks_mod = pack.wan_multitalk.masks
    masks = masks_mod.boxes_to_masks(masks_mod.auto_layout(speakers, dims["width"], dims["height"]), dims["height"],
                                     dims["width"])
    gh, gw = masks_mod.wan_token_grid(dims["height"], dims["width"])
    return masks_mod.token_masks(masks, gh, gw, background=True)


def our_model(pack, model, handle, speakers, dims):
    from importlib import import_module

    adapter = import_module(pack.__name__ + ".nodes.host.adapter")
    patches = import_module(pack.__name__ + ".wan_multitalk.adapter.patches")
    frame_audio = torch.randn(speakers, dims["frames"], 5, 12, 768)
    masks = strip_token_masks(pack, speakers, dims) if speakers > 1 else None
    cond = patches.AudioConditioning(handle.module, frame_audio, masks, 1.0, (), attention=adapter.host_attention)
    return adapter.patch_model(model, handle, cond)


def native_patch(adapter_sd, dims, dtype):
    """The host's native InfiniteTalk model patch (what ModelPatchLoader returns) holding the same weights."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.ops
    from comfy_extras.nodes_model_patch import MultiTalkModelPatch

    patch = MultiTalkModelPatch(in_dim=dims["dim"], intermediate_dim=dims["intermediate"], num_layers=dims["num_layers"],
                                device=mm.unet_offload_device(), dtype=dtype, operations=comfy.ops.manual_cast)
    patch.load_state_dict({k: v.to(mm.unet_offload_device(), dtype) for k, v in adapter_sd.items()}, assign=True)
    return comfy.model_patcher.CoreModelPatcher(patch, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device())


def native_model(model, adapter_sd, speakers, dims, pack):
    from comfy.ldm.wan.model_multitalk import MultiTalkCrossAttnPatch, MultiTalkGetAttnMapPatch, project_audio_features

    dtype = model.model_dtype()
    patcher = native_patch(adapter_sd, dims, dtype)
    patch = patcher.model
    feats = [torch.randn(dims["frames"], 12, 768) for _ in range(speakers)]
    embeds = project_audio_features(patch.audio_proj, feats, 0, dims["frames"]).to(dtype)
    m = model.clone()
    m.model_options["transformer_options"]["audio_embeds"] = embeds
    m.set_model_patch(MultiTalkCrossAttnPatch(patcher, 1.0), "attn2_patch")
    if speakers > 1:
        m.set_model_patch(MultiTalkGetAttnMapPatch(strip_token_masks(pack, speakers, dims)[:speakers]), "attn1_patch")
    return m


def norm_precision(pack, handle, dims, device) -> dict:
    """The adapter's norm_x in the compute dtype against the explicit float32 LayerNorm (max abs error)."""
    from importlib import import_module

    host = import_module(pack.__name__ + ".wan_multitalk.adapter.ops")
    norm = handle.module.blocks[0].norm_x
    x = (torch.randn(1, 4096, dims["dim"], device=device) * 3).to(torch.float16 if device.type == "cuda" else torch.float32)
    ref = torch.nn.functional.layer_norm(x.float(), norm.normalized_shape, norm.weight.to(device).float(),
                                         norm.bias.to(device).float(), norm.eps)
    out = host.layer_norm_fp32(norm, x).float()
    return {"max_abs_err": float((out - ref).abs().max()), "ref_abs_max": float(ref.abs().max()), "dtype": str(x.dtype)}


def time_case(guider, latent, steps, device, mean: bool = False) -> tuple[dict, torch.Tensor]:
    """Seconds per step after the warm-up one (median, or mean where steps differ: skipped by a cache) and the
    sampled latent."""
    import comfy.samplers

    sigmas = comfy.samplers.calculate_sigmas(guider.model_patcher.get_model_object("model_sampling"), "simple", steps)
    sampler = comfy.samplers.sampler_object("euler")
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(0))
    stamps = []

    def callback(step, x0, x, total):
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    samples = guider.sample(noise, latent, sampler, sigmas, callback=callback, disable_pbar=True, seed=0)
    steps_s = [b - a for a, b in zip(stamps, stamps[1:])]  # the first callback closes the warm-up step
    per_step = (sum(steps_s) / len(steps_s) if mean else statistics.median(steps_s)) if steps_s else float("nan")
    result = {"s_per_step": per_step, "steps_timed": len(steps_s)}
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info()
        result["device_used_gib"] = round((total - free) / 2**30, 2)
        result["torch_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result, samples.float().cpu()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--host")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out")
    ap.add_argument("--skip-native", action="store_true")
    ap.add_argument("--dims", help="JSON overriding the model/video dims (e.g. a CPU check of the native path)")
    args = ap.parse_args(argv)
    if args.steps < 2:
        ap.error("--steps must be at least 2: the first step is the warm-up, the rest are timed")
    dims = bench_dims(args.tiny, args.dims)
    _, pack = boot(args.host, cpu=args.tiny or not torch.cuda.is_available())
    import comfy.model_management as mm
    import comfy.samplers
    from importlib import import_module

    adapter = import_module(pack.__name__ + ".nodes.host.adapter")
    guider_mod = import_module(pack.__name__ + ".nodes.host.guider")
    device = mm.get_torch_device()
    wdtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    t0 = time.perf_counter()
    model = build_wan(dims, device, wdtype)
    adapter_sd = adapter_state(dims, device, wdtype)
    handle = adapter.adapter_from_state_dict({k: v.cpu() for k, v in adapter_sd.items()},
                                          {"config": json.dumps({"transformer": {"num_heads": dims["num_heads"]}})}, "infinitetalk")
    print(f"built models in {time.perf_counter() - t0:.1f} s; compute dtype {model.model_dtype()}", flush=True)
    lat_frames = (dims["frames"] - 1) // 4 + 1
    positive, negative = conditioning(dims, device, lat_frames)
    latent = torch.zeros(1, 16, lat_frames, dims["height"] // 8, dims["width"] // 8)

    def cfg_guider(m, cfg):
        g = comfy.samplers.CFGGuider(m)
        g.set_conds(positive, negative)
        g.set_cfg(cfg)
        return g

    def audio_guider(m, text, audio):
        g = guider_mod.AudioCFGGuider(m)
        g.set_conds(positive, negative)
        g.set_scales(text, audio)
        return g

    cases = [("plain, cfg 1", lambda: cfg_guider(model, 1.0))]
    for s in (1, 2, 4):
        cases.append((f"ours, {s} speaker(s), cfg 1", lambda s=s: cfg_guider(our_model(pack, model, handle, s, dims), 1.0)))
    if not args.skip_native:
        for s in (1, 2):
            cases.append((f"native InfiniteTalk, {s} speaker(s), cfg 1",
                          lambda s=s: cfg_guider(native_model(model, adapter_sd, s, dims, pack), 1.0)))
    cases += [("plain, cfg 2", lambda: cfg_guider(model, 2.0)),
              ("ours, 2 speakers, cfg 2 (batched)", lambda: cfg_guider(our_model(pack, model, handle, 2, dims), 2.0)),
              ("ours, 2 speakers, guider text 5 / audio 4 (3 passes)",
               lambda: audio_guider(our_model(pack, model, handle, 2, dims), 5.0, 4.0))]
    if not args.skip_native:
        cases.append(("native InfiniteTalk, 1 speaker, cfg 2", lambda: cfg_guider(native_model(model, adapter_sd, 1, dims, pack), 2.0)))

    results = {"norm_x precision": norm_precision(pack, handle, dims, device)}
    print(json.dumps(results), flush=True)
    for name, make in cases:
        try:
            results[name] = time_case(make(), latent, args.steps, device)[0]
        except Exception as exc:  # a crash is a result too (the native patch at cfg 2)
            results[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        print(json.dumps({name: results[name]}), flush=True)
        mm.soft_empty_cache()
    base = results["plain, cfg 1"].get("s_per_step")
    base2 = results["plain, cfg 2"].get("s_per_step")
    for name, r in results.items():
        if "s_per_step" in r:
            ref = base2 if "cfg 2" in name else base
            r["vs_plain_same_cfg"] = round(r["s_per_step"] / ref - 1, 4) if ref else None
    report = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
              "dims": dims, "steps": args.steps, "results": results}
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

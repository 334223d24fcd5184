"""The audio adapter on the host's own Wan model: KSampler at cfg 2, the text+audio guider, bad input."""
from __future__ import annotations

import pytest
import torch

from comfy_host import graph
from host_models import write_tiny_lora
from single_window import SIZE, core_sampler, window_graph


def ksampler(g, apply, vae, cfg, seed=0):
    sampled = g.node("KSampler", model=apply.out(0), positive=apply.out(1), negative=apply.out(2),
                     latent_image=apply.out(3), seed=seed, steps=2, cfg=cfg, sampler_name="euler", scheduler="simple",
                     denoise=1.0)
    g.node("MTSTest_Capture", value=sampled.out(0), key="latent")
    g.node("MTSTest_Capture", value=g.node("VAEDecode", samples=sampled.out(0), vae=vae.out(0)).out(0), key="frames")


def test_window_through_ksampler_at_cfg_2(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    g, apply, vae = window_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices)
    g.node("MTSTest_Capture", value=apply.out(4), key="preview")
    ksampler(g, apply, vae, cfg=2.0)
    out = host.run(g.finalize()).captured
    assert tuple(out["frames"].shape) == (9, 48, 64, 3) and torch.isfinite(out["frames"]).all()
    assert tuple(out["preview"].shape) == (1, 48, 64, 3)

    g, apply, vae = window_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, swap=True)
    ksampler(g, apply, vae, cfg=2.0)
    swapped = host.run(g.finalize()).captured
    # the voices drive the result: swapping who says what changes the generated latent
    assert not torch.allclose(out["latent"]["samples"], swapped["latent"]["samples"], atol=1e-4)


def guided(g, apply, vae, text_cfg, audio_cfg, key):
    guider = g.node("MTS_AudioCFGGuider", model=apply.out(0), positive=apply.out(1), negative=apply.out(2),
                    text_cfg=text_cfg, audio_cfg=audio_cfg)
    core_sampler(g, guider, apply, vae, key)


def test_guider_text_5_audio_4_with_sampler_custom_advanced(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    g, apply, vae = window_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices)
    guided(g, apply, vae, 5.0, 4.0, "text5_audio4")
    guided(g, apply, vae, 5.0, 1.0, "text5_audio1")
    core = g.node("CFGGuider", model=apply.out(0), positive=apply.out(1), negative=apply.out(2), cfg=5.0)
    core_sampler(g, core, apply, vae, "core_cfg5")
    guided(g, apply, vae, 1.0, 1.0, "text1_audio1")
    core1 = g.node("CFGGuider", model=apply.out(0), positive=apply.out(1), negative=apply.out(2), cfg=1.0)
    core_sampler(g, core1, apply, vae, "core_cfg1")
    guided(g, apply, vae, 1.0, 3.0, "text1_audio3")
    out = {k: v["samples"] for k, v in host.run(g.finalize()).captured.items()}

    assert all(torch.isfinite(v).all() for v in out.values())
    # with audio guidance off the guider is exactly the host's own CFG (one and two passes)
    torch.testing.assert_close(out["text5_audio1"], out["core_cfg5"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["text1_audio1"], out["core_cfg1"], rtol=1e-4, atol=1e-5)
    # audio guidance changes the result in both the three-pass and the two-pass form
    assert (out["text5_audio4"] - out["text5_audio1"]).abs().max() > 1e-4
    assert (out["text1_audio3"] - out["text1_audio1"]).abs().max() > 1e-4


def test_fp8_scaled_adapter_runs(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    g, apply, vae = window_graph(tiny_wan, "tiny_infinitetalk_fp8_scaled.safetensors", wav2vec2_name, voices, speakers=1)
    ksampler(g, apply, vae, cfg=1.0)
    out = host.run(g.finalize()).captured
    assert torch.isfinite(out["frames"]).all()


def test_adapter_of_another_width_is_refused_naming_both(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    g, apply, vae = window_graph(tiny_wan, "tiny_adapter_wrong_width.safetensors", wav2vec2_name, voices, speakers=1)
    ksampler(g, apply, vae, cfg=1.0)
    message = host.failure(g.finalize())
    dim = tiny_wan["spec"].dim
    assert f"dim {2 * dim}" in message and f"dim {dim}" in message and "MODEL" in message


def test_adapter_list_offers_adapter_files_only(host, tiny_wan, tiny_adapter):
    """Base Wan models share the loader's folders: the list leaves them out by their tensor names (a base model
    renamed like an adapter included), and one given anyway is refused before anything loads."""
    import shutil

    from workflow_api import host_object_info

    base = host.model_path("diffusion_models", tiny_wan["unet"])
    added = {host.model_path("model_patches", "base_by_mistake.safetensors"): base,
             host.model_path("model_patches", "wan2.1_infiniteTalk_renamed_base.safetensors"): base,
             host.model_path("diffusion_models", "adapter_in_dm.safetensors"): host.model_path("model_patches", tiny_adapter)}
    try:
        for copy, source in added.items():
            shutil.copy(source, copy)
        spec = host_object_info(host.node_mappings, ["MTS_AdapterLoader"])["MTS_AdapterLoader"]["input"]["required"]
        names = spec["model_name"][0] if isinstance(spec["model_name"][0], list) else spec["model_name"][1]["options"]
        assert tiny_adapter in names and "adapter_in_dm.safetensors" in names, names
        assert not {tiny_wan["unet"], "base_by_mistake.safetensors", "wan2.1_infiniteTalk_renamed_base.safetensors"} & set(names)
        g = graph()
        loader = g.node("MTS_AdapterLoader", model_name="base_by_mistake.safetensors", variant="auto")
        g.node("MTSTest_Capture", value=loader.out(0), key="adapter")
        assert "base_by_mistake.safetensors" in host.failure(g.finalize())
    finally:
        for copy in added:
            copy.unlink(missing_ok=True)


def test_window_length_not_4k_plus_1_suggests_neighbours(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    g, apply, vae = window_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, speakers=1, length=11)
    ksampler(g, apply, vae, cfg=1.0)
    message = host.failure(g.finalize())
    assert "length" in message and "9" in message and "13" in message


def native_branch(g, model_out, vae_out, tiny_wan, key):
    """A plain native I2V window on the same loader output, to see whether that model was mutated."""
    pos = g.node("MTSTest_RandomConditioning", seed=1, tokens=8, width=tiny_wan["spec"].text_dim)
    neg = g.node("MTSTest_RandomConditioning", seed=2, tokens=8, width=tiny_wan["spec"].text_dim)
    image = g.node("MTSTest_RandomImage", seed=4, width=64, height=48, batch=1)
    i2v = g.node("WanImageToVideo", positive=pos.out(0), negative=neg.out(0), vae=vae_out, length=9, batch_size=1,
                 start_image=image.out(0), **SIZE)
    out = g.node("KSampler", model=model_out, positive=i2v.out(0), negative=i2v.out(1), latent_image=i2v.out(2),
                 seed=0, steps=2, cfg=1.0, sampler_name="euler", scheduler="simple", denoise=1.0)
    g.node("MTSTest_Capture", value=out.out(0), key=key)


def test_fp8_base_with_lora_works_and_the_loaders_model_is_untouched(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    write_tiny_lora(host.model_path("loras", "tiny_wan_lora.safetensors"), tiny_wan["spec"])

    def window(lora: bool, with_native: bool):
        g, apply, vae = window_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, speakers=2)
        prompt_nodes = g.finalize()
        unet_id = next(k for k, v in prompt_nodes.items() if v["class_type"] == "UNETLoader")
        apply_id = next(k for k, v in prompt_nodes.items() if v["class_type"] == "MTS_ApplyAudioAdapter")
        prompt_nodes[unet_id]["inputs"]["weight_dtype"] = "fp8_e4m3fn"
        if lora:
            prompt_nodes["lora"] = {"class_type": "LoraLoaderModelOnly",
                                    "inputs": {"model": [unet_id, 0], "lora_name": "tiny_wan_lora.safetensors",
                                               "strength_model": 1.0}}
            prompt_nodes[apply_id]["inputs"]["model"] = ["lora", 0]
        prompt_nodes["ks"] = {"class_type": "KSampler", "inputs": {
            "model": [apply_id, 0], "positive": [apply_id, 1], "negative": [apply_id, 2], "latent_image": [apply_id, 3],
            "seed": 0, "steps": 2, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}}
        prompt_nodes["cap"] = {"class_type": "MTSTest_Capture", "inputs": {"value": ["ks", 0], "key": "ours"}}
        if with_native:
            vae_id = next(k for k, v in prompt_nodes.items() if v["class_type"] == "VAELoader")
            g2 = graph()
            native_branch(g2, [unet_id, 0], [vae_id, 0], tiny_wan, "native")
            prompt_nodes.update(g2.finalize())
        return host.run(prompt_nodes).captured

    with_lora = window(lora=True, with_native=True)
    without_lora = window(lora=False, with_native=False)
    assert torch.isfinite(with_lora["ours"]["samples"]).all()
    # the LoRA reaches the patched model: same audio, same seed, different result
    assert (with_lora["ours"]["samples"] - without_lora["ours"]["samples"]).abs().max() > 1e-4

    g = graph()
    model = g.node("UNETLoader", unet_name=tiny_wan["unet"], weight_dtype="fp8_e4m3fn")
    vae = g.node("VAELoader", vae_name=tiny_wan["vae"])
    native_branch(g, model.out(0), vae.out(0), tiny_wan, "native_alone")
    alone = host.run(g.finalize()).captured
    # the native window on the loader's model is the same whether or not our nodes patched it in the same prompt
    torch.testing.assert_close(with_lora["native"]["samples"], alone["native_alone"]["samples"])


@pytest.mark.parametrize("variant", ["multitalk", "infinitetalk"])
def test_continuation_conditions_on_the_right_known_frames(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, variant):
    """MultiTalk continues from the previous tail as the I2V known frames; InfiniteTalk keeps the reference there
    (the tail only enters as motion latents). Both as the long-video loop does it."""
    from wan_multitalk.timebase import latent_frames

    g, apply, vae = window_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices)
    tail = g.node("MTSTest_RandomImage", seed=8, width=64, height=48, batch=7)
    image = g.node("MTSTest_RandomImage", seed=4, width=80, height=48, batch=1)  # the graph's start image
    for key, value in (("positive", apply.out(1)), ("vae", vae.out(0)), ("tail", tail.out(0)), ("image", image.out(0))):
        g.node("MTSTest_Capture", value=value, key=key + variant)  # keys differ per case: no cached capture
    prompt = g.finalize()
    for node in prompt.values():
        if node["class_type"] == "MTS_AdapterLoader":
            node["inputs"]["variant"] = variant
        if node["class_type"] == "MTS_ApplyAudioAdapter":
            node["inputs"].update(previous_frames=[tail.id, 0], motion_frame=5)
    out = {k[:-len(variant)]: v for k, v in host.run(prompt).captured.items() if k.endswith(variant)}
    values = out["positive"][0][1]
    grey = torch.full((9, 48, 64, 3), 0.5)
    if variant == "multitalk":
        grey[:5] = out["tail"][-5:]
        known_latents = latent_frames(5)
    else:
        grey[:1] = out["image"][:, :, 8:72]  # 80x48 centre-cropped to 64x48
        known_latents = 1
    with torch.inference_mode():
        expected = out["vae"].encode(grey)
    torch.testing.assert_close(values["concat_latent_image"], expected, rtol=1e-4, atol=1e-4)
    mask = values["concat_mask"]
    assert known_latents in (1, 2) and (mask[:, :, :known_latents] == 0).all() and (mask[:, :, known_latents:] == 1).all()

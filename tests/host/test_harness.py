"""The harness itself: the pack loads into the real host, and a native tiny Wan I2V graph runs."""
from __future__ import annotations

import torch

from comfy_host import PACK_DIR_NAME, graph


def test_pack_imports_without_failure(host):
    log = host.logs.text()
    failed = [line for line in log.splitlines() if "IMPORT FAILED" in line and PACK_DIR_NAME in line]
    assert not failed, f"the host reports the pack as failed:\n{log}"
    assert "[MultiTalk Studio] could not load" not in log


def test_pack_nodes_are_in_the_node_list(host):
    import asyncio

    import nodes

    extension = asyncio.run(host.pack.comfy_entrypoint())
    ids = [cls.GET_SCHEMA().node_id for cls in asyncio.run(extension.get_node_list())]
    assert ids, "the pack declares no nodes"
    assert all(i.startswith("MTS_") for i in ids)
    missing = [i for i in ids if i not in nodes.NODE_CLASS_MAPPINGS]
    assert not missing, f"declared but not registered in the host: {missing}"


def test_native_tiny_wan_i2v_graph_runs(host, tiny_wan):
    g = graph()
    model = g.node("UNETLoader", unet_name=tiny_wan["unet"], weight_dtype="default")
    vae = g.node("VAELoader", vae_name=tiny_wan["vae"])
    pos = g.node("MTSTest_RandomConditioning", seed=1, tokens=8, width=tiny_wan["spec"].text_dim)
    neg = g.node("MTSTest_RandomConditioning", seed=2, tokens=8, width=tiny_wan["spec"].text_dim)
    clip_vision = g.node("MTSTest_RandomClipVisionOutput", seed=3)
    image = g.node("MTSTest_RandomImage", seed=4, width=64, height=48, batch=1)
    i2v = g.node("WanImageToVideo", positive=pos.out(0), negative=neg.out(0), vae=vae.out(0), width=64,
                 height=48, length=9, batch_size=1, clip_vision_output=clip_vision.out(0), start_image=image.out(0))
    sampled = g.node("KSampler", model=model.out(0), positive=i2v.out(0), negative=i2v.out(1), latent_image=i2v.out(2),
                     seed=0, steps=2, cfg=2.0, sampler_name="euler", scheduler="simple", denoise=1.0)
    frames = g.node("VAEDecode", samples=sampled.out(0), vae=vae.out(0))
    g.node("MTSTest_Capture", value=frames.out(0), key="frames")
    g.node("MTSTest_Capture", value=sampled.out(0), key="latent")

    result = host.run(g.finalize())

    latent = result.captured["latent"]["samples"]
    assert tuple(latent.shape) == (1, 16, 3, 6, 8)  # (9-1)/4+1 latent frames, 48/8 x 64/8
    frames = result.captured["frames"]
    assert tuple(frames.shape) == (9, 48, 64, 3)
    assert torch.isfinite(frames).all()

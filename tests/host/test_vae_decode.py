"""Decoding with the frames left on the VAE's device (nodes/host/vae.py) relies on two undocumented attributes of
the host's VAE. These tests fail when the host changes them, and show the host's own VAE object is never changed."""
from __future__ import annotations

import inspect

import torch

from comfy_host import graph


def loaded_vae(host, tiny_wan):
    g = graph()
    g.node("MTSTest_Capture", value=g.node("VAELoader", vae_name=tiny_wan["vae"]).out(0), key="vae")
    return host.run(g.finalize()).captured["vae"]


def test_the_hosts_vae_still_decodes_to_its_output_device(host):
    import comfy.sd

    assert "self.output_device" in inspect.getsource(comfy.sd.VAE.decode), \
        "comfy.sd.VAE.decode no longer reads output_device: nodes/host/vae.py must find another way"


def test_decoder_on_device_is_a_copy_that_decodes_where_it_is_told(host, tiny_wan):
    vae = loaded_vae(host, tiny_wan)
    assert isinstance(vae.device, torch.device) and isinstance(vae.output_device, torch.device)
    decoder = host.pack_module("nodes.host.vae").decoder_on_device(vae)
    assert decoder is not vae and decoder.output_device == vae.device
    assert decoder.first_stage_model is vae.first_stage_model and decoder.patcher is vae.patcher  # no second model

    latent = torch.randn(1, 16, 2, 6, 8, generator=torch.Generator().manual_seed(0))
    output_device = vae.output_device
    with torch.inference_mode():
        frames = decoder.decode(latent)
        torch.testing.assert_close(frames, vae.decode(latent), rtol=0, atol=0)
        decoder.output_device = torch.device("meta")  # a device nothing else uses: the result must land there
        assert decoder.decode(latent).device.type == "meta"
    assert vae.output_device == output_device  # the host's object is untouched


def test_without_the_attributes_it_decodes_as_the_host_does(host):
    class PlainVAE:
        def decode(self, samples):
            return samples

    plain = PlainVAE()
    assert host.pack_module("nodes.host.vae").decoder_on_device(plain) is plain

"""Decoding a window with the frames left on the VAE's device.

The colour match and the next window's motion encode read the decoded frames there, and only the kept frames
travel to the CPU, in the background. `comfy.sd.VAE.decode` has no option for this: it moves its result to the
object's `output_device`. So the runner decodes through a shallow copy of the host's VAE whose `output_device` is
its compute device; the host's own object (shared with every other node) is never changed. This relies on two
attributes of `comfy.sd.VAE` that are not a documented API; `tests/host/test_vae_decode.py` fails when the host
changes them, and without them decoding falls back to the host's plain `decode` (slower, same frames).
"""
from __future__ import annotations

import copy
import logging

log = logging.getLogger("multitalk_studio")


def decoder_on_device(vae):
    """A VAE that decodes like `vae` but returns the frames on `vae.device`."""
    if not (hasattr(vae, "output_device") and hasattr(vae, "device")):
        log.warning("[MultiTalk Studio] this ComfyUI's VAE has no output_device/device: frames are decoded to the "
                    "CPU (slower between windows); please report this ComfyUI version")
        return vae
    decoder = copy.copy(vae)
    decoder.output_device = vae.device
    return decoder

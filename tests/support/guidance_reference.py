"""Float64 re-derivations of the guidance formulas, written for the tests from their published descriptions.

- the upstream text + audio guidance (MultiTalk / InfiniteTalk generate loops, vanilla branch) and its two- and
  one-pass reductions;
- the host's CFG hooks as their nodes define them (ComfyUI comfy_extras: APG, RescaleCFG for flow models,
  CFG-Zero*), applied to one (cond, uncond, scale) triple of denoised predictions.
Nothing here imports the pack or the host.
"""
from __future__ import annotations

import torch

F64 = torch.float64


def upstream_guidance(text_cfg: float, audio_cfg: float, passes: dict) -> torch.Tensor:
    """passes: the per-pass denoised predictions by name: cond, no_text, neither (3 passes), cond, no_audio
    (text cfg 1), cond, no_text (audio cfg 1), cond (both 1)."""
    p = {k: v.to(F64) for k, v in passes.items()}
    if text_cfg == 1.0 and audio_cfg == 1.0:
        return p["cond"]
    if audio_cfg == 1.0:
        return p["no_text"] + text_cfg * (p["cond"] - p["no_text"])
    if text_cfg == 1.0:
        return p["no_audio"] + audio_cfg * (p["cond"] - p["no_audio"])
    return p["neither"] + text_cfg * (p["cond"] - p["no_text"]) + audio_cfg * (p["no_text"] - p["neither"])


def host_triple(text_cfg: float, audio_cfg: float, passes: dict) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The (cond, uncond, scale) the guider documents for the host's CFG hooks."""
    p = {k: v.to(F64) for k, v in passes.items()}
    if text_cfg == 1.0:
        return p["cond"], p["no_audio"], audio_cfg
    shift = (audio_cfg - 1.0) * (p["no_text"] - p["neither"])
    return p["cond"] + shift, p["no_text"] + shift, text_cfg


class HostAPG:
    """ComfyUI's APG node: on the denoised predictions, running average reset when sigma rises, per-channel norm
    clip over the last three dims, projection onto the cond prediction; the result then goes through plain CFG."""

    def __init__(self, eta: float, norm_threshold: float, momentum: float):
        self.eta, self.threshold, self.momentum = eta, norm_threshold, momentum
        self.running, self.prev_sigma, self.clipped = None, None, False

    def __call__(self, sigma: float, cond, uncond, scale: float) -> torch.Tensor:
        if self.prev_sigma is not None and sigma > self.prev_sigma:
            self.running = None
        self.prev_sigma = sigma
        guidance = cond - uncond
        if self.momentum != 0:
            self.running = guidance if self.running is None else self.momentum * self.running + guidance
            guidance = self.running
        dims = (-1, -2, -3)
        if self.threshold > 0:
            norm = guidance.norm(p=2, dim=dims, keepdim=True)
            factor = torch.clamp(self.threshold / norm, max=1.0)
            self.clipped |= bool((factor < 1).any())
            guidance = guidance * factor
        unit = cond / cond.norm(p=2, dim=dims, keepdim=True)
        parallel = (guidance * unit).sum(dim=dims, keepdim=True) * unit
        modified = guidance - parallel + self.eta * parallel
        modified_cond = uncond + modified + (cond - uncond) / scale
        return uncond + (modified_cond - uncond) * scale


def rescale_cfg_flow(cond, uncond, scale: float, multiplier: float) -> torch.Tensor:
    """RescaleCFG for flow models: the CFG result rescaled to the cond's standard deviation, blended."""
    cfg = uncond + scale * (cond - uncond)
    dims = tuple(range(1, cond.ndim))
    rescaled = cfg * (cond.std(dim=dims, keepdim=True) / cfg.std(dim=dims, keepdim=True))
    return multiplier * rescaled + (1.0 - multiplier) * cfg


def cfg_zero_star(x, cond, uncond, scale: float) -> torch.Tensor:
    """CFG-Zero*: the uncond prediction scaled by alpha = <x - cond, x - uncond> / |x - uncond|^2, then CFG."""
    a, b = (x - cond).flatten(1), (x - uncond).flatten(1)
    alpha = ((a * b).sum(1) / (b * b).sum(1)).reshape(-1, *([1] * (cond.ndim - 1)))
    return alpha * uncond + scale * (cond - alpha * uncond)

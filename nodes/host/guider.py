"""The text + audio CFG guider: the upstream audio-guidance formula in the host's CFG form (its pre-/post-CFG hooks apply)."""
from __future__ import annotations

import math

import comfy.samplers

from ...wan_multitalk.adapter.patches import NULL_AUDIO_CONDS_KEY


class AudioCFGGuider(comfy.samplers.CFGGuider):
    """Text and audio guidance, upstream formula, in the host's CFG form so the MODEL's pre-/post-CFG patches
    (APG, RescaleCFG, CFG-Zero*, ...) apply.

    audio cfg 1: the host's own CFG at text cfg (one pass at text cfg 1). text cfg 1: two passes, the cond and
    the cond without audio, as the host's cond / uncond at audio cfg. Otherwise three passes: cond, no_text,
    neither (no text, no audio). The host's hooks know one (cond, uncond, scale): they get
    (cond + a, no_text + a, text cfg) with the audio guidance a = (audio cfg - 1)(no_text - neither) added to
    both, whose plain CFG is the upstream neither + s_text (cond - no_text) + s_audio (no_text - neither).
    So in three passes APG shapes the text guidance and the audio guidance rides along unchanged.

    The official APG (`--use_apg`) is not what the host's APG node computes, with any settings: it works on
    the velocity, projects onto the cond velocity with eta 0, normalises over the whole latent, scales by
    cfg - 1 and keeps one momentum buffer per guidance term; the host's works on the denoised prediction,
    projects onto the cond prediction, normalises per channel, scales by cfg and keeps one buffer (and its
    norm_threshold stops at 50, the official one is 55).
    """

    def set_scales(self, text_cfg: float, audio_cfg: float):
        self.text_cfg, self.audio_cfg = float(text_cfg), float(audio_cfg)
        self.cfg = self.text_cfg

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        if math.isclose(self.audio_cfg, 1.0):
            return super().predict_noise(x, timestep, model_options, seed)
        positive, negative = self.conds.get("positive"), self.conds.get("negative")
        if math.isclose(self.text_cfg, 1.0):
            conds, null_audio, scale = [positive, positive], {1}, self.audio_cfg
        else:
            conds, null_audio, scale = [positive, negative, negative], {2}, self.text_cfg
        out = comfy.samplers.calc_cond_batch(self.inner_model, conds, x, timestep,
                                             _with_null_audio(model_options, null_audio))
        if len(out) == 3:
            cond, no_text, neither = out
            audio = (self.audio_cfg - 1.0) * (no_text - neither)
            out = [cond + audio, no_text + audio]
        return _host_cfg(self.inner_model, conds[:2], out, scale, x, timestep, model_options)


def _host_cfg(model, conds: list, out: list, scale: float, x, timestep, model_options: dict):
    """CFG of two predictions as the host's sampling_function does it: its pre-CFG functions, then its
    cfg_function (a sampler CFG function, post-CFG functions)."""
    for fn in model_options.get("sampler_pre_cfg_function", []):
        out = fn({"conds": conds, "conds_out": out, "cond_scale": scale, "timestep": timestep, "input": x,
                  "sigma": timestep, "model": model, "model_options": model_options})
    return comfy.samplers.cfg_function(model, out[0], out[1], scale, x, timestep, model_options=model_options,
                                       cond=conds[0], uncond=conds[1])


def _with_null_audio(model_options: dict, conds: set) -> dict:
    options = dict(model_options)
    options["transformer_options"] = dict(model_options.get("transformer_options", {}))
    options["transformer_options"][NULL_AUDIO_CONDS_KEY] = frozenset(conds)
    return options

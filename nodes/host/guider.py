"""The text + audio CFG guider: the host's CFGGuider with the upstream audio-guidance formula."""
from __future__ import annotations

import math

import comfy.samplers

from ...wan_multitalk.adapter.patches import NULL_AUDIO_CONDS_KEY


class AudioCFGGuider(comfy.samplers.CFGGuider):
    """Text and audio guidance, upstream formula; 3 passes, 2 when text cfg is 1, 1 when both are 1."""

    def set_scales(self, text_cfg: float, audio_cfg: float):
        self.text_cfg, self.audio_cfg = float(text_cfg), float(audio_cfg)
        self.cfg = self.text_cfg

    def set_conds(self, positive, negative):
        self.inner_set_conds({"positive": positive, "negative": negative})

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        positive, negative = self.conds.get("positive"), self.conds.get("negative")
        text_off, audio_off = math.isclose(self.text_cfg, 1.0), math.isclose(self.audio_cfg, 1.0)
        if text_off and audio_off:
            return comfy.samplers.calc_cond_batch(self.inner_model, [positive], x, timestep, model_options)[0]
        if audio_off:
            cond, uncond = comfy.samplers.calc_cond_batch(self.inner_model, [positive, negative], x, timestep, model_options)
            return comfy.samplers.cfg_function(self.inner_model, cond, uncond, self.text_cfg, x, timestep,
                                               model_options=model_options, cond=positive, uncond=negative)
        if text_off:
            cond, no_audio = comfy.samplers.calc_cond_batch(self.inner_model, [positive, positive], x, timestep,
                                                            _with_null_audio(model_options, {1}))
            return no_audio + self.audio_cfg * (cond - no_audio)
        cond, no_text, neither = comfy.samplers.calc_cond_batch(self.inner_model, [positive, negative, negative], x,
                                                                timestep, _with_null_audio(model_options, {2}))
        return neither + self.text_cfg * (cond - no_text) + self.audio_cfg * (no_text - neither)


def _with_null_audio(model_options: dict, conds: set) -> dict:
    options = dict(model_options)
    options["transformer_options"] = dict(model_options.get("transformer_options", {}))
    options["transformer_options"][NULL_AUDIO_CONDS_KEY] = frozenset(conds)
    return options

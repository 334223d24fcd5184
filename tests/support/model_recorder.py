"""A test-only node that records what a MODEL receives and returns, through the host's own extension points.

`MTSTest_RecordModel` returns a clone of its MODEL with three host wrappers (ModelPatcher.add_wrapper_with_key):
- PREDICT_NOISE: the guider's prediction per step (x, sigma, guided denoised);
- APPLY_MODEL: every model call as the guider's cond batching makes it (x, sigma, cond indices, denoised out);
- DIFFUSION_MODEL: what the DiT itself is given (input with the I2V concat channels, timestep, text
  context, cond indices, raw output) and, per block, what each attn1 / attn2 patch receives and returns.
Wrappers and patches that others add later (the pack's motion-latent wrapper, the audio patches a sampler
installs on its own clone) are recorded too: the patch lists are wrapped at call time, and the DiT wrapper
runs inside every APPLY_MODEL wrapper. Nothing of the pack is imported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

RECORDS: dict = {}
KEY = "mtstest_record"


@dataclass
class Recording:
    """Everything one key saw, in call order; "step" numbers the guider's predictions (over all samplings)."""

    guided: list = field(default_factory=list)  # {"step", "x", "sigma", "out"}
    calls: list = field(default_factory=list)  # {"step", "x", "sigma", "conds", "context", "out"}
    dit: list = field(default_factory=list)  # {"step", "x", "t", "context", "clip_fea", "conds", "out", "attn1", "attn2"}
    step: int = 0

    def at(self, step: int) -> tuple[list, list]:
        """(model calls, DiT calls) of one guider step."""
        return [c for c in self.calls if c["step"] == step], [d for d in self.dit if d["step"] == step]


def recording(key: str) -> Recording:
    return RECORDS.setdefault(key, Recording())


def _cpu(t):
    return t.detach().to("cpu", torch.float32).clone() if isinstance(t, torch.Tensor) else t


class _PatchRecorder:
    """Wraps one attn patch for one DiT call: records (block, cond indices, input, output, q, k)."""

    def __init__(self, inner, log: list):
        self.inner, self.log = inner, log

    def __call__(self, args):
        options = args["transformer_options"]
        entry = {"block": options.get("block_index"), "conds": list(options.get("cond_or_uncond") or [0]),
                 "x": _cpu(args["x"]), "q": _cpu(args.get("q")), "k": _cpu(args.get("k"))}
        out = self.inner(args)
        entry["out"] = _cpu(out)
        self.log.append(entry)
        return out


class _Recorder:
    """Looks its Recording up at every call, so a test may clear RECORDS even when the host reuses a cached MODEL."""

    def __init__(self, key: str):
        self.key = key

    @property
    def recording(self) -> Recording:
        return recording(self.key)

    def predict_noise(self, executor, x, timestep, model_options, seed):
        rec = self.recording
        out = executor(x, timestep, model_options, seed)
        rec.guided.append({"step": rec.step, "x": _cpu(x), "sigma": _cpu(timestep), "out": _cpu(out)})
        rec.step += 1
        return out

    def apply_model(self, executor, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options={},
                    **kwargs):
        out = executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)
        self.recording.calls.append({"step": self.recording.step, "x": _cpu(x),
                                     "sigma": _cpu(t), "conds": list(transformer_options.get("cond_or_uncond") or [0]),
                                     "context": _cpu(c_crossattn), "out": _cpu(out)})
        return out

    def diffusion_model(self, executor, x, timestep, context, clip_fea=None, time_dim_concat=None,
                        transformer_options={}, **kwargs):
        entry = {"step": self.recording.step, "x": _cpu(x), "t": _cpu(timestep), "context": _cpu(context),
                 "clip_fea": _cpu(clip_fea),
                 "conds": list(transformer_options.get("cond_or_uncond") or [0]), "attn1": [], "attn2": []}
        options = dict(transformer_options)
        patches = {name: list(plist) for name, plist in options.get("patches", {}).items()}
        for name in ("attn1_patch", "attn2_patch"):
            if name in patches:
                patches[name] = [_PatchRecorder(p, entry[name[:5]]) for p in patches[name]]
        options["patches"] = patches
        out = executor(x, timestep, context, clip_fea, time_dim_concat, options, **kwargs)
        entry["out"] = _cpu(out)
        self.recording.dit.append(entry)
        return out


class RecordModel:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "key": ("STRING", {"default": "model"})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing"

    def patch(self, model, key):
        from comfy.patcher_extension import WrappersMP

        recorder = _Recorder(key)
        patched = model.clone()
        patched.add_wrapper_with_key(WrappersMP.PREDICT_NOISE, KEY, recorder.predict_noise)
        patched.add_wrapper_with_key(WrappersMP.APPLY_MODEL, KEY, recorder.apply_model)
        patched.add_wrapper_with_key(WrappersMP.DIFFUSION_MODEL, KEY, recorder.diffusion_model)
        return (patched,)

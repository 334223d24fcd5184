"""Test-only nodes, registered into the booted host by the harness and never shipped to users.

The host's full-size umt5 text encoder and CLIP-H vision model cannot be made tiny through its own
loaders, so these nodes hand the graph conditioning of the right shapes instead. The capture node
lets a test read any socket's value back as the real object the executor produced. The observed
sampler is the pack's long-video sampler with a runner built from `RUNNER` (observers, background
writes), so tests watch the windows of a real executor run.
"""
from __future__ import annotations

import importlib
import sys

import torch

CAPTURED: dict = {}
CLIP_ENCODES: list = []  # (image, crop) of every encode_image call of a FakeClipVision, in order
PREFIX = "MTSTest_"
RUNNER: dict = {"observers": [], "background_writes": None}


class Capture:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",), "key": ("STRING", {"default": "out"})}}

    RETURN_TYPES = ()
    FUNCTION = "capture"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    @classmethod
    def VALIDATE_INPUTS(cls, input_types):
        return True

    def capture(self, value, key):
        CAPTURED[key] = value
        return {}


class RandomConditioning:
    """Text conditioning [1, tokens, width] as a tiny Wan's text embedding expects."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2**31}),
                             "tokens": ("INT", {"default": 8, "min": 1, "max": 512}),
                             "width": ("INT", {"default": 32, "min": 1, "max": 8192})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, seed, tokens, width):
        g = torch.Generator().manual_seed(seed)
        return ([[torch.randn(1, tokens, width, generator=g), {}]],)


class RandomClipVisionOutput:
    """CLIP-H penultimate states [1, 257, 1280], what Wan I2V's image embedding reads."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2**31})}}

    RETURN_TYPES = ("CLIP_VISION_OUTPUT",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, seed):
        import comfy.clip_vision

        g = torch.Generator().manual_seed(seed)
        out = comfy.clip_vision.Output()
        out["penultimate_hidden_states"] = torch.randn(1, 257, 1280, generator=g)
        out["last_hidden_state"] = torch.randn(1, 257, 1280, generator=g)
        out["image_embeds"] = torch.randn(1, 1024, generator=g)
        return (out,)


class FakeClipVision:
    """A CLIP_VISION model with the host's `encode_image(image, crop)`: CLIP-H shaped outputs that follow the image
    (a fixed random projection of its 16 x 16 thumbnail), every call recorded in CLIP_ENCODES."""

    def __init__(self, seed: int):
        self.seed = seed

    def encode_image(self, image, crop=True):
        import comfy.clip_vision

        CLIP_ENCODES.append((image.detach().cpu().clone(), crop))
        g = torch.Generator().manual_seed(self.seed)
        projection = torch.randn(16 * 16 * 3, 1280, generator=g) / 28.0
        thumb = torch.nn.functional.interpolate(image.float().cpu().movedim(-1, 1), size=(16, 16), mode="area")
        feature = thumb.movedim(1, -1).reshape(image.shape[0], -1) @ projection
        out = comfy.clip_vision.Output()
        out["penultimate_hidden_states"] = feature[:, None] + torch.randn(1, 257, 1280, generator=g)
        out["last_hidden_state"] = out["penultimate_hidden_states"]
        out["image_embeds"] = feature[:, :1024]
        return out


class ClipVision:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2**31})}}

    RETURN_TYPES = ("CLIP_VISION",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, seed):
        return (FakeClipVision(seed),)


def slow_euler(model, x, sigmas, extra_args=None, callback=None, disable=None, seconds=0.0):
    """Euler that waits `seconds` after each step's callback (after the host sent that step's progress)."""
    import time

    from comfy.k_diffusion.sampling import sample_euler

    def slow(info):
        if callback is not None:
            callback(info)
        time.sleep(seconds)

    return sample_euler(model, x, sigmas, extra_args=extra_args, callback=slow, disable=disable)


class SlowSampler:
    """A SAMPLER giving a test watching a server time to act in a known step (kill it, interrupt it)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 10.0})}}

    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, seconds):
        import comfy.samplers

        return (comfy.samplers.KSAMPLER(slow_euler, extra_options={"seconds": float(seconds)}),)


class RandomImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2**31}),
                             "width": ("INT", {"default": 64, "min": 8, "max": 4096}),
                             "height": ("INT", {"default": 64, "min": 8, "max": 4096}),
                             "batch": ("INT", {"default": 1, "min": 1, "max": 4096})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, seed, width, height, batch):
        g = torch.Generator().manual_seed(seed)
        return (torch.rand(batch, height, width, 3, generator=g),)


class StackMasks:
    """Two to four MASKs into one batch, in order (the speaker order)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask_1": ("MASK",), "mask_2": ("MASK",)},
                "optional": {"mask_3": ("MASK",), "mask_4": ("MASK",)}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "stack"
    CATEGORY = "testing"

    def stack(self, mask_1, mask_2, mask_3=None, mask_4=None):
        masks = [m for m in (mask_1, mask_2, mask_3, mask_4) if m is not None]
        return (torch.cat([m.reshape(-1, *m.shape[-2:]) for m in masks]),)


class StripMasks:
    """N equal vertical strips (speaker 1 leftmost) as a MASK batch: distinct regions for routing tests."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 2, "min": 1, "max": 4}),
                             "width": ("INT", {"default": 64, "min": 8, "max": 4096}),
                             "height": ("INT", {"default": 48, "min": 8, "max": 4096})}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, count, width, height):
        masks = torch.zeros(count, height, width)
        for k in range(count):
            masks[k, :, k * width // count:(k + 1) * width // count] = 1.0
        return (masks,)


class SineAudio:
    """AUDIO of exactly `samples` samples at `rate`: a voice-band sweep, so wav2vec2 sees sound of a chosen length."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("INT", {"default": 16000, "min": 1, "max": 10**8}),
                             "rate": ("INT", {"default": 16000, "min": 1000, "max": 384000})}}

    RETURN_TYPES = ("AUDIO",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, samples, rate):
        t = torch.arange(samples, dtype=torch.float64) / rate
        wave = 0.3 * torch.sin(2 * torch.pi * (150 + 200 * t) * t) * (1 + 0.5 * torch.sin(2 * torch.pi * 3 * t))
        return ({"waveform": wave.float()[None, None], "sample_rate": rate},)


class RecordingSampler:
    """A SAMPLER (euler) that records every model evaluation in SAMPLER_CALLS: a test can see that no step ran."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self):
        import comfy.k_diffusion.sampling
        import comfy.samplers

        def recording_euler(model, x, sigmas, *args, **kwargs):
            def counted(x, sigma, **kw):
                SAMPLER_CALLS.append(float(sigma.flatten()[0]))
                return model(x, sigma, **kw)

            return comfy.k_diffusion.sampling.sample_euler(counted, x, sigmas, *args, **kwargs)

        return (comfy.samplers.KSAMPLER(recording_euler),)


SAMPLER_CALLS: list = []


def observed_sampler(base):
    """`base` (the pack's MTS_LongVideoSampler) running its jobs with a runner made from `RUNNER`."""
    nodes_module = sys.modules[base.__module__]
    runner = importlib.import_module(base.__module__.rsplit(".", 1)[0] + ".host.long_video")

    class ObservedLongVideoSampler(base):
        @classmethod
        def define_schema(cls):
            schema = base.define_schema()
            schema.node_id, schema.display_name = PREFIX + "LongVideoSampler", "Long Video Sampler (observed)"
            return schema

        @classmethod
        def execute(cls, model, adapter, embeds, plan, positive, negative, sampler, sigmas, noise_seed, text_cfg,
                    audio_cfg, positive_2=None, positive_3=None, positive_4=None, noise=None, audio=None):
            prompts = [positive] + [p for p in (positive_2, positive_3, positive_4) if p is not None]
            job = runner.LongVideoJob(model, adapter, embeds, plan, prompts, negative, sampler, sigmas,
                                      runner.WindowNoise(noise_seed, noise), (text_cfg, audio_cfg), audio)
            used = nodes_module.output_used(cls.hidden.prompt, cls.hidden.unique_id, nodes_module.IMAGES_OUTPUT)
            return nodes_module.run_sampler(job, runner.LongVideoRunner(list(RUNNER["observers"]),
                                                                         RUNNER["background_writes"]), used)

    return ObservedLongVideoSampler


ATTENTION_CALLS: list = []


def recording_attention_override(func, *args, **kwargs):
    """A model's attention override in the host's form: record the call's q/k shapes, then run the host's own
    attention function unchanged (so the frames stay exactly those without the override)."""
    q, k = args[0], args[1]
    ATTENTION_CALLS.append((tuple(q.shape), tuple(k.shape)))
    return func(*args, **kwargs)


class RecordAttention:
    """Installs `recording_attention_override` the way attention-switch nodes do: in the MODEL's
    transformer_options under the host's `optimized_attention_override` key."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing"

    def patch(self, model):
        model = model.clone()
        model.model_options["transformer_options"]["optimized_attention_override"] = recording_attention_override
        return (model,)


from model_recorder import RecordModel  # noqa: E402  (a test node of its own module)

TEST_NODES = {
    PREFIX + "RecordAttention": RecordAttention,
    PREFIX + "RecordModel": RecordModel,
    PREFIX + "SineAudio": SineAudio,
    PREFIX + "StripMasks": StripMasks,
    PREFIX + "StackMasks": StackMasks,
    PREFIX + "Capture": Capture,
    PREFIX + "RandomConditioning": RandomConditioning,
    PREFIX + "RandomClipVisionOutput": RandomClipVisionOutput,
    PREFIX + "ClipVision": ClipVision,
    PREFIX + "RandomImage": RandomImage,
    PREFIX + "RecordingSampler": RecordingSampler,
    PREFIX + "SlowSampler": SlowSampler,
}


def register(nodes_module) -> None:
    for name, cls in TEST_NODES.items():
        cls.RELATIVE_PYTHON_MODULE = "tests.support.host_test_nodes"
        nodes_module.NODE_CLASS_MAPPINGS[name] = cls
        nodes_module.NODE_DISPLAY_NAME_MAPPINGS[name] = name
    sampler = nodes_module.NODE_CLASS_MAPPINGS.get("MTS_LongVideoSampler")
    if sampler is not None:  # the pack loaded: its sampler, observed
        name = PREFIX + "LongVideoSampler"
        nodes_module.NODE_CLASS_MAPPINGS[name] = observed_sampler(sampler)
        nodes_module.NODE_DISPLAY_NAME_MAPPINGS[name] = name

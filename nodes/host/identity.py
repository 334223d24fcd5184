"""What decides a long video's frames, as a `Fingerprint` a resumed run is checked against.

Host objects are reduced to what decides their output. A MODEL (and the adapter, the VAE, a CLIP vision model):
its weights as loaded from the file - the patcher's public `get_key_patches`, which gives the stored weight even
while a LoRA is patched into it - hashed by sample, its patches (LoRAs and their strengths), object patches (e.g.
ModelSamplingSD3's shift) and model options (other nodes' wrappers and patches, by type and settings). A SAMPLER:
its function and options. Data (audio, embeds, images, conditioning, sigmas): in full. The output folder and what
to do when the inputs changed are not part of it: they say where and how, not what.
"""
from __future__ import annotations

from ...wan_multitalk.fingerprint import Fingerprint

WEIGHTS = ("model", "adapter", "vae", "clip_vision")  # parts hashed by sample


def job_fingerprint(job) -> Fingerprint:
    """The fingerprint of a LongVideoJob, one part per input a user could change."""
    plan = job.plan
    noise = job.noise.noise if job.noise.noise is not None else int(job.noise.seed)
    parts = {
        "embeds": job.embeds,
        "audio": job.audio,
        "width/height": (plan.width, plan.height),
        "frame_window_size/motion_frame": (plan.window_size, plan.motion),
        "mode": plan.mode,
        "colour_match": plan.colour_strength,
        "reference": {"image": plan.reference, "video": plan.source_video, "fps": plan.source_fps,
                      "face_mask": plan.face_mask, "denoise": plan.denoise},
        "model": weights_identity(job.model),
        "adapter": {"weights": weights_identity(job.adapter.patcher), "variant": job.adapter.variant,
                    "spec": job.adapter.spec},
        "vae": weights_identity(plan.vae),
        "clip_vision": {"model": weights_identity(plan.clip_vision) if plan.clip_vision is not None else None,
                        "output": plan.clip_vision_output},
        "positive": job.prompts,
        "negative": job.negative,
        "sampler": job.sampler,
        "sigmas": job.sigmas,
        "noise_seed": noise,
        "text_cfg/audio_cfg": tuple(float(g) for g in job.guidance),
    }
    return Fingerprint.of(parts, sampled=WEIGHTS)


def weights_identity(obj) -> dict | object:
    """A model patcher (or an object holding one as `patcher`, like the host's VAE and CLIP vision) as its stored
    weights with their patches, object patches and model options; anything else as itself."""
    patcher = obj if hasattr(obj, "get_key_patches") else getattr(obj, "patcher", None)
    if patcher is None or not hasattr(patcher, "get_key_patches"):
        return obj
    model = patcher.model
    replaced = tuple(f"{name}." for name in getattr(patcher, "object_patches", {}))
    # key -> [(stored weight, convert), *patches]; an object patch's own tensors are in the model only while it is
    # loaded (ModelSamplingSD3's sigmas): they are described with the object patch instead
    weights = {k: v for k, v in patcher.get_key_patches().items() if not k.startswith(replaced)}
    return {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "config": type(getattr(model, "model_config", None)).__qualname__,
        "weights": weights,
        "object_patches": getattr(patcher, "object_patches", {}),
        "model_options": getattr(patcher, "model_options", {}),
        "weight_wrapper_patches": getattr(patcher, "weight_wrapper_patches", {}),
        "dtype": str(getattr(obj, "vae_dtype", None) or getattr(model, "manual_cast_dtype", None)),
    }

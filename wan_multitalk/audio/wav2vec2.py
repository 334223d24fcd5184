"""Loading chinese-wav2vec2-base, the audio encoder MultiTalk and InfiniteTalk were trained with.

It comes in two forms: the Hugging Face folder (TencentGameMate/chinese-wav2vec2-base: config.json plus
pytorch_model.bin or model.safetensors) and one safetensors file of the same weights without a config
(wav2vec2-chinese-base_fp16.safetensors), whose architecture is therefore written out here. Both spell the
keys as ``Wav2Vec2ForPreTraining`` saves them (a ``wav2vec2.`` prefix, pre-training heads alongside) with the
positional convolution's weight norm as ``weight_g``/``weight_v`` (old PyTorch) or
``parametrizations.weight.original0/1`` (new PyTorch); both are mapped onto the installed transformers'
``Wav2Vec2Model``. Anything but the 768-wide, 12-layer post-LN base model is refused before its weights are
read, because the adapter weights only make sense with it.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import InputError

_PREFIX = "wav2vec2."
_MODEL_PARTS = ("feature_extractor.", "feature_projection.", "encoder.", "masked_spec_embed")
_POS_CONV = "encoder.pos_conv_embed.conv."
_WEIGHT_NORM_NEW = (_POS_CONV + "parametrizations.weight.original0", _POS_CONV + "parametrizations.weight.original1")
_WEIGHT_NORM_OLD = (_POS_CONV + "weight_g", _POS_CONV + "weight_v")
_SPEC_EMBED = "masked_spec_embed"
_FOLDER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")

CHINESE_BASE = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "feat_extract_norm": "group",
    "do_stable_layer_norm": False,
    "conv_bias": False,
    "conv_dim": (512,) * 7,
    "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
    "conv_stride": (5, 2, 2, 2, 2, 2, 2),
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
}
"""Architecture of TencentGameMate/chinese-wav2vec2-base (post-LN encoder, group-norm conv, 320-sample hop)."""

_FIX_WRONG_MODEL = (
    "Choose chinese-wav2vec2-base: the single file wav2vec2-chinese-base_fp16.safetensors, or the "
    "TencentGameMate/chinese-wav2vec2-base folder (config.json + pytorch_model.bin)."
)


def normalize_state_dict(sd: dict) -> dict:
    """Key-normalised copy of a wav2vec2 checkpoint, in the spelling of ``Wav2Vec2Model``: ``wav2vec2.``
    stripped, pre-training heads (quantizer, project_hid/q) dropped, the weight norm named
    ``parametrizations.weight.original0/1``. Tensors are not copied."""
    has_prefix = any(str(key).startswith(_PREFIX) for key in sd)
    out = {}
    for key, value in sd.items():
        key = str(key)
        if has_prefix:
            if not key.startswith(_PREFIX):
                continue  # a head of Wav2Vec2ForPreTraining, not part of the encoder
            key = key[len(_PREFIX):]
        if key.startswith(_MODEL_PARTS):
            out[key] = value
    for old, new in zip(_WEIGHT_NORM_OLD, _WEIGHT_NORM_NEW):
        if old in out:
            out[new] = out.pop(old)
    return out


def chinese_base_config(with_spec_embed: bool = False):
    """The ``Wav2Vec2Config`` of chinese-wav2vec2-base. The spec-augment vector is unused at inference; it is
    built only when the file has it, so strict loading works either way."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(**CHINESE_BASE, apply_spec_augment=with_spec_embed,
                          mask_time_prob=0.05 if with_spec_embed else 0.0, mask_feature_prob=0.0)


def require_chinese_base(config) -> None:
    """InputError("model") unless ``config`` describes chinese-wav2vec2-base."""
    differences = [key for key, want in CHINESE_BASE.items()
                   if (tuple(getattr(config, key)) if isinstance(want, tuple) else getattr(config, key)) != want]
    if not differences:
        return
    detail = ", ".join(f"{key}={getattr(config, key)} (expected {CHINESE_BASE[key]})" for key in differences[:3])
    raise InputError(
        "model",
        f"is a different wav2vec2 than chinese-wav2vec2-base: hidden size {config.hidden_size}, "
        f"{config.num_hidden_layers} layers, {config.feat_extract_norm}-norm conv front-end; {detail}. "
        "MultiTalk/InfiniteTalk need chinese-wav2vec2-base (hidden 768, 12 layers, group-norm conv).",
        _FIX_WRONG_MODEL,
    )


def _read_weights(path: Path, shapes_only: bool = False) -> dict:
    """State dict of one .safetensors or torch-saved file; ``shapes_only`` gives meta tensors from a
    safetensors header, so a wrong model is refused before gigabytes are read."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                if shapes_only:
                    return {k: torch.empty(handle.get_slice(k).get_shape(), device="meta") for k in handle.keys()}
                return {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as error:  # noqa: BLE001 - a corrupt header is a bad file for the user
            raise InputError("model", f"{path.name} could not be read as safetensors ({error}).",
                             "Re-download the file; it may be truncated.") from None
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise InputError("model", f"{path.name} could not be read as a PyTorch weights file ({error}).",
                         "Use a .safetensors file, or a .bin state dict saved with torch.save.") from None
    if not isinstance(sd, dict):
        raise InputError("model", f"{path.name} does not hold a state dict.", _FIX_WRONG_MODEL)
    return sd


def _weights_path(path: Path) -> Path:
    if not path.exists():
        raise InputError("model", f"{path} does not exist.", "Check the file name; put the model in the models folder.")
    if path.is_file():
        return path
    found = next((path / name for name in _FOLDER_WEIGHTS if (path / name).is_file()), None)
    if found is None or not (path / "config.json").is_file():
        raise InputError("model", f"folder {path.name} needs config.json and one of {', '.join(_FOLDER_WEIGHTS)}.",
                         "Point at the Hugging Face folder of chinese-wav2vec2-base, or at its single .safetensors file.")
    return found


def _single_file_config(path: Path):
    """chinese-wav2vec2-base's config, after the file's tensor shapes (the header only, for safetensors) were
    found to be that model's."""
    shapes = normalize_state_dict(_read_weights(path, shapes_only=True))
    width = shapes.get("feature_projection.projection.weight")
    if width is None or _WEIGHT_NORM_NEW[1] not in shapes:
        keys = sorted(shapes)[:3] or ["no tensors"]
        raise InputError("model", f"{path.name} is not a wav2vec2 checkpoint (it holds {', '.join(keys)}).",
                         _FIX_WRONG_MODEL)
    layers = len({k.split(".")[2] for k in shapes if k.startswith("encoder.layers.")})
    if (int(width.shape[0]), layers) != (768, 12) or any(
            k.startswith("feature_extractor.conv_layers.1.layer_norm") for k in shapes):
        norm = "layer" if "feature_extractor.conv_layers.1.layer_norm.weight" in shapes else "group"
        raise InputError(
            "model",
            f"is a different wav2vec2 than chinese-wav2vec2-base: hidden size {int(width.shape[0])}, {layers} layers, "
            f"{norm}-norm conv front-end. MultiTalk/InfiniteTalk need chinese-wav2vec2-base (hidden 768, 12 "
            "layers, group-norm conv).", _FIX_WRONG_MODEL)
    return chinese_base_config(with_spec_embed=_SPEC_EMBED in shapes)


def _match_model_spelling(sd: dict, model_keys: set) -> dict:
    """Rename the weight-norm pair to the old weight_g/weight_v if this PyTorch builds it that way."""
    if _WEIGHT_NORM_OLD[0] in model_keys and _WEIGHT_NORM_NEW[0] in sd:
        sd = dict(sd)
        for old, new in zip(_WEIGHT_NORM_OLD, _WEIGHT_NORM_NEW):
            sd[old] = sd.pop(new)
    return sd


def build_wav2vec2(config, sd: dict, dtype: torch.dtype = torch.float32):
    """``Wav2Vec2Model`` from ``config`` with exactly the tensors of ``sd`` (any spelling above), on the CPU in
    eval mode, no grads. Strict: any missing, unexpected or mis-shaped tensor is an InputError naming the first
    few, so a truncated download cannot silently run with random weights."""
    from transformers import Wav2Vec2Model

    with torch.device("meta"):
        model = Wav2Vec2Model(config)
    expected = model.state_dict()
    sd = _match_model_spelling(normalize_state_dict(sd), set(expected))
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    mis_shaped = sorted(k for k in set(sd) & set(expected) if tuple(sd[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or mis_shaped:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrongly shaped", mis_shaped)):
            if keys:
                parts.append(f"{len(keys)} {label} tensors ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})")
        raise InputError("model", "does not match the wav2vec2 architecture: " + "; ".join(parts) + ".",
                         "The file may be truncated or from another model; re-download chinese-wav2vec2-base.")
    if any(not value.is_floating_point() for value in sd.values()):
        raise InputError("model", "holds tensors that are not floating point.", _FIX_WRONG_MODEL)
    model.load_state_dict({key: value.to(dtype=dtype) for key, value in sd.items()}, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def load_wav2vec2(path, dtype: torch.dtype = torch.float32):
    """chinese-wav2vec2-base from its Hugging Face folder or its single safetensors file, cast to ``dtype``
    (fp16, bf16 and fp32 files all work). A folder's config.json, or a file's tensor shapes, are checked
    before the weights are read."""
    from transformers import Wav2Vec2Config

    path = Path(path)
    weights = _weights_path(path)
    if path.is_dir():
        config = Wav2Vec2Config.from_dict(json.loads((path / "config.json").read_text()))
        require_chinese_base(config)
    else:
        config = _single_file_config(path)
    return build_wav2vec2(config, _read_weights(weights), dtype=dtype)

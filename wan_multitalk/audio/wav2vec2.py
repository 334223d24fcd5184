"""Loading chinese-wav2vec2-base, the audio encoder MultiTalk and InfiniteTalk were trained with.

Checkpoints of this model circulate in several spellings: with or without the ``wav2vec2.``
prefix of ``Wav2Vec2ForPreTraining``, with the quantizer/projection heads still attached, and with
the positional convolution's weight norm stored either as ``weight_g``/``weight_v`` (old PyTorch)
or as ``parametrizations.weight.original0/1`` (new PyTorch). Everything here maps those onto the
``transformers.Wav2Vec2Model`` that is installed, reads the architecture from the tensors
themselves (no hub access, no bundled config), and refuses other wav2vec2 sizes up front, because
the adapter weights only make sense with the 768-wide, 12-layer base model.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import REDOWNLOAD, InputError, unreadable_file

_PREFIX = "wav2vec2."
_MODEL_PARTS = ("feature_extractor.", "feature_projection.", "encoder.", "masked_spec_embed")
_POS_CONV = "encoder.pos_conv_embed.conv."
_WEIGHT_NORM_NEW = (_POS_CONV + "parametrizations.weight.original0", _POS_CONV + "parametrizations.weight.original1")
_WEIGHT_NORM_OLD = (_POS_CONV + "weight_g", _POS_CONV + "weight_v")

_REQUIRED = (
    "feature_extractor.conv_layers.0.conv.weight",
    "feature_projection.projection.weight",
    "encoder.layers.0.attention.q_proj.weight",
    "encoder.layers.0.feed_forward.intermediate_dense.weight",
    _WEIGHT_NORM_NEW[1],
)
"""Tensors whose shapes define the architecture; without them a file is not a wav2vec2."""

STANDARD_CONV_KERNELS = (10, 3, 3, 3, 3, 2, 2)
STANDARD_CONV_STRIDES = (5, 2, 2, 2, 2, 2, 2)
"""The wav2vec2 conv front-end: 320-sample hop (50 Hz at 16 kHz), 400-sample receptive field."""

CHINESE_BASE = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "feat_extract_norm": "group",
    "conv_dim": (512,) * 7,
    "conv_kernel": STANDARD_CONV_KERNELS,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
}
"""Architecture of TencentGameMate/chinese-wav2vec2-base (post-LN encoder, group-norm conv)."""

_FIX_WRONG_MODEL = (
    "Choose chinese-wav2vec2-base: the single file wav2vec2-chinese-base_fp16.safetensors, or the "
    "TencentGameMate/chinese-wav2vec2-base folder (config.json + pytorch_model.bin)."
)


def normalize_state_dict(sd: dict) -> dict:
    """Key-normalised copy of a wav2vec2 checkpoint, in the spelling of ``Wav2Vec2Model``.

    Strips ``wav2vec2.``, drops pre-training/CTC heads (quantizer, project_hid/q, lm_head, ...)
    and writes the positional-conv weight norm as ``parametrizations.weight.original0/1``
    (g, v). A positional-conv weight stored without weight norm is split into (||w||, w), which
    reproduces it exactly. Tensors are not copied.
    """
    has_prefix = any(str(key).startswith(_PREFIX) for key in sd)
    out = {}
    for key, value in sd.items():
        key = str(key)
        if has_prefix:
            if not key.startswith(_PREFIX):
                continue  # a head of Wav2Vec2ForPreTraining / ForCTC, not part of the encoder
            key = key[len(_PREFIX):]
        if not key.startswith(_MODEL_PARTS):
            continue
        out[key] = value
    for old, new in zip(_WEIGHT_NORM_OLD, _WEIGHT_NORM_NEW):
        if old in out:
            out[new] = out.pop(old)
    plain = _POS_CONV + "weight"
    if plain in out and _WEIGHT_NORM_NEW[1] not in out:
        weight = out.pop(plain)
        out[_WEIGHT_NORM_NEW[0]] = _norm_over_first_two_dims(weight)
        out[_WEIGHT_NORM_NEW[1]] = weight
    return out


def _norm_over_first_two_dims(weight: torch.Tensor) -> torch.Tensor:
    if weight.is_meta:
        return torch.empty((1, 1, weight.shape[2]), device="meta")
    return weight.float().pow(2).sum(dim=(0, 1), keepdim=True).sqrt().to(weight.dtype)


def _count_indexed(sd: dict, prefix: str, suffix: str) -> int:
    count = 0
    while f"{prefix}{count}{suffix}" in sd:
        count += 1
    return count


def _not_wav2vec2(sd: dict, normalized: dict) -> InputError:
    keys = [str(key) for key in sd]
    if any("embed_positions" in key for key in keys):
        found = "a Whisper-style encoder"
    elif not keys:
        found = "an empty file"
    else:
        found = f"{len(keys)} tensors such as {', '.join(sorted(keys)[:3])}"
    missing = [key for key in _REQUIRED if key not in normalized]
    return InputError(
        "model",
        f"is not a wav2vec2 checkpoint: found {found}, but no {missing[0]}.",
        _FIX_WRONG_MODEL,
    )


def config_from_state_dict(sd: dict, *, allow_any_size: bool = False, num_attention_heads: int | None = None,
                           file_config: dict | None = None):
    """``transformers.Wav2Vec2Config`` read from tensor names and shapes (works on meta tensors).

    Attention heads cannot be seen in the weights: ``num_attention_heads``, then ``file_config``
    (a config.json), then hidden // 64 (true for every published wav2vec2: 768/12, 1024/16).
    Conv strides cannot be seen either: the standard layout is assumed unless ``file_config``
    says otherwise. Raises InputError("model") for non-wav2vec2 files and, unless
    ``allow_any_size``, for anything that is not chinese-wav2vec2-base.
    """
    from transformers import Wav2Vec2Config

    file_config = dict(file_config or {})
    normalized = normalize_state_dict(sd)
    if any(key not in normalized for key in _REQUIRED):
        raise _not_wav2vec2(sd, normalized)
    if any(key.startswith("encoder.adapter") for key in normalized):
        raise InputError("model", "is a wav2vec2 with adapter layers, which this loader does not support.",
                         _FIX_WRONG_MODEL)

    conv_prefix = "feature_extractor.conv_layers."
    num_conv = _count_indexed(normalized, conv_prefix, ".conv.weight")
    conv_weights = [normalized[f"{conv_prefix}{i}.conv.weight"] for i in range(num_conv)]
    conv_dim = tuple(int(w.shape[0]) for w in conv_weights)
    conv_kernel = tuple(int(w.shape[-1]) for w in conv_weights)
    norms = [f"{conv_prefix}{i}.layer_norm.weight" in normalized for i in range(num_conv)]
    if all(norms):
        feat_extract_norm = "layer"
    elif norms[0] and not any(norms[1:]):
        feat_extract_norm = "group"
    else:
        raise InputError("model", "has a wav2vec2 conv front-end without normalisation layers, which is not supported.",
                         _FIX_WRONG_MODEL)
    if "conv_stride" in file_config:
        conv_stride = tuple(int(s) for s in file_config["conv_stride"])
    elif conv_kernel == STANDARD_CONV_KERNELS:
        conv_stride = STANDARD_CONV_STRIDES
    else:
        raise InputError("model", f"has conv kernels {conv_kernel}, not the standard wav2vec2 layout "
                         f"{STANDARD_CONV_KERNELS}, and no config.json to give the strides.", _FIX_WRONG_MODEL)

    hidden = int(normalized["feature_projection.projection.weight"].shape[0])
    layers = _count_indexed(normalized, "encoder.layers.", ".attention.q_proj.weight")
    intermediate = int(normalized["encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0])
    pos_weight = normalized[_WEIGHT_NORM_NEW[1]]
    pos_kernel = int(pos_weight.shape[-1])
    pos_groups = hidden // int(pos_weight.shape[1])
    heads = num_attention_heads or file_config.get("num_attention_heads") or hidden // 64
    if heads < 1 or hidden % heads:
        raise InputError("model", f"needs an attention head count that divides its width {hidden}; got {heads}.",
                         "Load the model from its folder (with config.json), or pass num_attention_heads.")
    found = {
        "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": int(heads),
        "intermediate_size": intermediate, "feat_extract_norm": feat_extract_norm, "conv_dim": conv_dim,
        "conv_kernel": conv_kernel, "num_conv_pos_embeddings": pos_kernel, "num_conv_pos_embedding_groups": pos_groups,
    }
    if not allow_any_size:
        _require_chinese_base(found)

    has_spec_embed = "masked_spec_embed" in normalized
    stable = file_config.get("do_stable_layer_norm", feat_extract_norm == "layer")
    return Wav2Vec2Config(
        **found,
        conv_stride=conv_stride,
        conv_bias=f"{conv_prefix}0.conv.bias" in normalized,
        do_stable_layer_norm=bool(stable),
        layer_norm_eps=float(file_config.get("layer_norm_eps", 1e-5)),
        hidden_act=file_config.get("hidden_act", "gelu"),
        feat_extract_activation=file_config.get("feat_extract_activation", "gelu"),
        # The spec-augment vector is unused at inference; build it only when the file has it,
        # so strict loading works either way.
        apply_spec_augment=has_spec_embed,
        mask_time_prob=0.05 if has_spec_embed else 0.0,
        mask_feature_prob=0.0,
    )


def _require_chinese_base(found: dict) -> None:
    differences = [key for key, want in CHINESE_BASE.items() if found[key] != want]
    if not differences:
        return
    hidden, layers, norm = found["hidden_size"], found["num_hidden_layers"], found["feat_extract_norm"]
    if hidden == 1024 and layers == 24:
        guess = " (this looks like wav2vec2-large / XLSR)"
    elif hidden == 768 and layers == 12 and norm == "layer":
        guess = " (a base-size wav2vec2 with a layer-norm conv front-end, not chinese-wav2vec2-base)"
    else:
        guess = ""
    detail = ", ".join(f"{key}={found[key]} (expected {CHINESE_BASE[key]})" for key in differences[:3])
    raise InputError(
        "model",
        f"is a different wav2vec2 than chinese-wav2vec2-base: found hidden size {hidden}, {layers} layers, "
        f"{norm}-norm conv front-end{guess}; "
        f"{detail}. MultiTalk/InfiniteTalk need chinese-wav2vec2-base (hidden 768, 12 layers, group-norm conv).",
        _FIX_WRONG_MODEL,
    )


def _unwrap(obj, source: Path) -> dict:
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model", "module"):
            if isinstance(obj.get(key), dict):
                return _unwrap(obj[key], source)
    if not isinstance(obj, dict):
        raise InputError("model", f"{source.name} does not contain a state dict (found {type(obj).__name__}).",
                         _FIX_WRONG_MODEL)
    return obj


def _read_weights_file(path: Path, shapes_only: bool = False) -> tuple[dict, dict]:
    """(state dict, string metadata) of one .safetensors / .pt / .bin / .pth / .ckpt file.

    ``shapes_only`` returns meta tensors for safetensors (header only), so a wrong model is
    rejected before gigabytes are read.
    """
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                metadata = handle.metadata() or {}
                if shapes_only:
                    shapes = {k: handle.get_slice(k).get_shape() for k in handle.keys()}
                    return {k: torch.empty(shape, device="meta") for k, shape in shapes.items()}, metadata
                return {key: handle.get_tensor(key) for key in handle.keys()}, metadata
        except Exception as error:  # noqa: BLE001 - a corrupt header is a bad file for the user
            raise unreadable_file("model", path, error) from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise unreadable_file("model", path, error, "use a .safetensors file, or a .pt/.bin state dict saved with "
                              "torch.save; " + REDOWNLOAD) from None
    return _unwrap(obj, path), {}


def _read_checkpoint(path: Path, shapes_only: bool = False) -> tuple[dict, dict]:
    """(state dict, config dict) from a weights file or a Hugging Face model folder."""
    if not path.exists():
        raise InputError("model", f"{path} does not exist.", "Check the file name; put the model in the models folder.")
    if path.is_file():
        sd, metadata = _read_weights_file(path, shapes_only)
        heads = metadata.get("num_attention_heads")
        return sd, ({"num_attention_heads": int(heads)} if heads else {})
    config_path = path / "config.json"
    file_config = json.loads(config_path.read_text()) if config_path.exists() else {}
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).exists():
            return _read_weights_file(path / name, shapes_only)[0], file_config
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (path / name).exists():
            shards = sorted(set(json.loads((path / name).read_text())["weight_map"].values()))
            sd = {}
            for shard in shards:
                sd.update(_read_weights_file(path / shard, shapes_only)[0])
            return sd, file_config
    raise InputError("model", f"folder {path} has no model.safetensors or pytorch_model.bin.",
                     "Point at a Hugging Face model folder, or at a single .safetensors file.")


def _match_model_spelling(sd: dict, model_keys: set) -> dict:
    """Rename the weight-norm pair to the old weight_g/weight_v if this PyTorch builds it that way."""
    if _WEIGHT_NORM_OLD[0] in model_keys and _WEIGHT_NORM_NEW[0] in sd:
        sd = dict(sd)
        for old, new in zip(_WEIGHT_NORM_OLD, _WEIGHT_NORM_NEW):
            sd[old] = sd.pop(new)
    return sd


def build_wav2vec2(config, sd: dict, dtype: torch.dtype = torch.float32, device="cpu"):
    """``Wav2Vec2Model`` from ``config`` with exactly the tensors of ``sd``, in eval mode, no grads.

    Strict: any missing, unexpected or mis-shaped tensor is an InputError naming the first few,
    so a truncated download cannot silently run with random weights.
    """
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
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise InputError("model", f"tensor {key} is not floating point.", _FIX_WRONG_MODEL)
    cast = {key: value.to(device=device, dtype=dtype) for key, value in sd.items()}
    model.load_state_dict(cast, strict=True, assign=True)
    leftovers = [name for name, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftovers:  # a tensor that is not in the state dict; cannot happen with the checks above
        raise RuntimeError(f"wav2vec2 tensors left unloaded: {leftovers[:3]}")
    model.eval()
    model.requires_grad_(False)
    return model


def load_wav2vec2(path, dtype: torch.dtype = torch.float32, device="cpu", allow_any_size: bool = False,
                  num_attention_heads: int | None = None):
    """chinese-wav2vec2-base from one weights file or a Hugging Face folder, cast to ``dtype``.

    fp16/bf16/fp32 files all work. ``allow_any_size`` lifts the size check (tests build tiny
    models through this same path). The head count, invisible in the weights, comes from
    ``num_attention_heads``, else config.json, else the safetensors metadata key
    ``num_attention_heads``, else hidden // 64. Safetensors shapes are checked before any
    tensor data is read.
    """
    path = Path(path)
    shapes, file_config = _read_checkpoint(path, shapes_only=True)
    config = config_from_state_dict(shapes, allow_any_size=allow_any_size, num_attention_heads=num_attention_heads,
                                    file_config=file_config)
    already_loaded = not any(isinstance(t, torch.Tensor) and t.is_meta for t in shapes.values())
    sd = shapes if already_loaded else _read_checkpoint(path)[0]
    return build_wav2vec2(config, sd, dtype=dtype, device=device)

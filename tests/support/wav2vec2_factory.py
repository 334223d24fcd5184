"""Tiny wav2vec2 checkpoints for tests: real conv layout, tiny widths, no downloads.

The conv front-end keeps the real 7-layer layout (kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2),
so the 320-sample hop and 400-sample receptive field are the real ones; only the widths shrink.
All parameters (including norm scales and biases) are randomised, so silence does not encode to
zeros by accident, and values are rounded to fp16 so fp16 and fp32 files hold identical numbers.
Built straight from ``transformers``' ``Wav2Vec2Config`` (never through the package's loader) so tests can
compare the loader against it; ``chinese_base_model`` is the full-size architecture for the loader's files.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

CONV_KERNELS = (10, 3, 3, 3, 3, 2, 2)
CONV_STRIDES = (5, 2, 2, 2, 2, 2, 2)


def tiny_config(hidden: int = 32, layers: int = 2, heads: int = 2, conv_dim: int = 32, norm: str = "group",
                pos_kernel: int = 16, pos_groups: int = 2) -> Wav2Vec2Config:
    """A small post-LN (group norm) or stable-LN (layer norm) wav2vec2 config with the real conv layout."""
    return Wav2Vec2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        conv_dim=(conv_dim,) * 7,
        conv_kernel=CONV_KERNELS,
        conv_stride=CONV_STRIDES,
        conv_bias=norm == "layer",
        feat_extract_norm=norm,
        do_stable_layer_norm=norm == "layer",
        num_conv_pos_embeddings=pos_kernel,
        num_conv_pos_embedding_groups=pos_groups,
        mask_time_prob=0.0,
        mask_feature_prob=0.0,
    )


def tiny_model(hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0, **config_kw) -> Wav2Vec2Model:
    """A randomised tiny ``Wav2Vec2Model`` in eval mode (fp32, CPU, no grads)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = Wav2Vec2Model(tiny_config(hidden, layers, heads, **config_kw))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                noise = 0.2 * torch.randn(param.shape, generator=generator)
            elif "norm" in name and param.dim() == 1:
                noise = 1.0 + 0.2 * torch.randn(param.shape, generator=generator)
            elif name.endswith("original0"):  # weight-norm magnitude g
                noise = 0.5 + torch.rand(param.shape, generator=generator)
            else:
                fan_in = param[0].numel() if param.dim() > 1 else param.numel()
                noise = torch.randn(param.shape, generator=generator) / fan_in ** 0.5
            param.copy_(noise.half().float())
    return model.eval().requires_grad_(False)


def tiny_state_dict(hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0, **config_kw) -> dict:
    """The tiny model's state dict, ``Wav2Vec2Model`` spelling (new weight-norm names), fp32 clones."""
    model = tiny_model(hidden, layers, heads, seed, **config_kw)
    return {key: value.clone() for key, value in model.state_dict().items()}


def to_checkpoint_spelling(sd: dict, *, prefix: bool = True, weight_norm: str = "old") -> dict:
    """Re-spell a ``Wav2Vec2Model`` state dict the way files in the wild do."""
    if weight_norm not in ("old", "new"):
        raise ValueError("weight_norm must be 'old' or 'new'")
    out = {}
    for key, value in sd.items():
        if weight_norm == "old":
            key = key.replace("conv.parametrizations.weight.original0", "conv.weight_g")
            key = key.replace("conv.parametrizations.weight.original1", "conv.weight_v")
        out[("wav2vec2." + key) if prefix else key] = value
    if prefix:  # a Wav2Vec2ForPreTraining file also carries heads the encoder must ignore
        out["quantizer.codevectors"] = torch.zeros(1, 4, 8)
        out["project_hid.weight"] = torch.zeros(8, 8)
    return out


def chinese_base_model(seed: int = 0, spec_embed: bool = True) -> Wav2Vec2Model:
    """A randomly initialised model of chinese-wav2vec2-base's architecture (768 wide, 12 layers, group-norm
    conv), written out here from the published config, not from the package."""
    torch.manual_seed(seed)
    config = Wav2Vec2Config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                            conv_dim=(512,) * 7, conv_kernel=CONV_KERNELS, conv_stride=CONV_STRIDES, conv_bias=False,
                            feat_extract_norm="group", do_stable_layer_norm=False, num_conv_pos_embeddings=128,
                            num_conv_pos_embedding_groups=16, mask_time_prob=0.05 if spec_embed else 0.0)
    return Wav2Vec2Model(config).eval()


def write_checkpoint(path, model: Wav2Vec2Model, *, folder: bool = False, dtype: torch.dtype = torch.float16,
                     weights: str = "pytorch_model.bin", prefix: bool = True, weight_norm: str = "old") -> Path:
    """``model`` as it circulates: one safetensors file (``folder=False``), or a Hugging Face folder with
    config.json and ``weights`` (pytorch_model.bin or model.safetensors). Keys in checkpoint spelling."""
    from safetensors.torch import save_file

    path = Path(path)
    sd = to_checkpoint_spelling(model.state_dict(), prefix=prefix, weight_norm=weight_norm)
    sd = {key: value.to(dtype).contiguous() for key, value in sd.items()}
    if folder:
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(model.config.to_json_string())
        target = path / weights
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        target = path
    if target.suffix == ".safetensors":
        save_file(sd, str(target))
    else:
        torch.save(sd, str(target))
    return path

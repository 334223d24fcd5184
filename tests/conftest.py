"""Shared fixtures: the real ComfyUI host (booted once, in-process, CPU) and tiny model files.

Library tests need nothing but torch. Tests under tests/host/ need the host; without one they are
skipped with the reason printed in the header and again, loudly, in the summary.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import adapter_factory
import cached_assets
import host_audio
import soundfile
from comfy_host import ComfyHost, find_host

HOST_ROOT, HOST_REASON = find_host()
if cached_assets.resemblyzer_root() is not None:  # after everything installed: an installed resemblyzer wins
    sys.path.append(str(cached_assets.resemblyzer_root()))
HOST_DIRS = ("host", "browser")


def pytest_report_header(config):
    if HOST_ROOT is None:
        return [f"ComfyUI host: NONE ({HOST_REASON}); host tests will be SKIPPED"]
    return [f"ComfyUI host: {HOST_ROOT} (found via {HOST_REASON})"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "tests" in parts and any(d in parts[parts.index("tests") + 1:-1] for d in HOST_DIRS):
            item.add_marker(pytest.mark.host)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if HOST_ROOT is None:
        skipped = [r for r in terminalreporter.stats.get("skipped", []) if "host" in getattr(r, "keywords", {})]
        terminalreporter.write_sep("!", f"HOST TESTS SKIPPED ({len(skipped)}): {HOST_REASON}", red=True, bold=True)


@pytest.fixture(scope="session")
def host(tmp_path_factory) -> ComfyHost:
    if HOST_ROOT is None:
        pytest.skip(f"HOST TEST SKIPPED: {HOST_REASON}")
    return ComfyHost(HOST_ROOT, tmp_path_factory.mktemp("comfy")).boot()


@pytest.fixture(scope="session")
def tiny_wan(host):
    """File names of a tiny Wan 2.1 I2V DiT and Wan VAE in the host's model folders."""
    import host_models

    spec = host_models.tiny_wan_spec()
    host_models.write_tiny_wan_i2v(host.model_path("diffusion_models", "tiny_wan21_i2v.safetensors"), spec)
    host_models.write_tiny_wan_vae(host.model_path("vae", "tiny_wan21_vae.safetensors"))
    return {"unet": "tiny_wan21_i2v.safetensors", "vae": "tiny_wan21_vae.safetensors", "spec": spec}


@pytest.fixture(scope="session")
def wav2vec2_name(host):
    name = "chinese_wav2vec2_base_random_fp16.safetensors"
    host_audio.write_random_chinese_wav2vec2_base(host.model_path("audio_encoders", name))
    return name


@pytest.fixture(scope="session")
def voices(host):
    if not host_audio.have_espeak():
        pytest.skip("HOST TEST SKIPPED: espeak-ng is not installed (apt-get install espeak-ng)")
    folder = host.workdir / "input"
    lines = {"male": ("hello there, how are you today", "male"), "female": ("I am fine, thank you very much", "female"),
             "short": ("yes", "male")}
    out = {}
    for name, (text, voice) in lines.items():
        path = host_audio.speak(text, voice, folder / f"{name}.wav")
        data, rate = soundfile.read(str(path), dtype="float32")
        out[name] = {"file": path.name, "samples": len(data), "rate": rate}
    return out


@pytest.fixture(scope="session")
def tiny_adapter(host, tiny_wan):
    spec = tiny_wan["spec"]
    meta = {"config": json.dumps({"transformer": {"num_heads": spec.num_heads}})}
    shape = dict(num_blocks=spec.num_layers, dim=spec.dim, audio_layers=12, audio_channels=768, intermediate=32,
                 tokens=32, token_dim=768)
    adapter_factory.write_adapter_file(host.model_path("model_patches", "tiny_infinitetalk.safetensors"),
                                       metadata=meta, **shape)
    adapter_factory.write_adapter_file(host.model_path("model_patches", "tiny_infinitetalk_fp8_scaled.safetensors"),
                                       fp8="e4m3fn_scaled", metadata=meta, **shape)
    wide = dict(shape, dim=2 * spec.dim)
    adapter_factory.write_adapter_file(host.model_path("model_patches", "tiny_adapter_wrong_width.safetensors"),
                                       metadata=meta, **wide)
    return "tiny_infinitetalk.safetensors"

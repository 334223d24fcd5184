"""Every script in bench/ still runs against the pack's current modules: each one's smallest case on tiny random
models, in this session's host (the full-size runs are made on the device machine: bench/RESULTS.md). The benches
record a crashed case as an "error" row instead of stopping, so a renamed module or argument only shows up here."""
from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

import host_models

BENCH = Path(__file__).resolve().parents[2] / "bench"
SMALL = {"width": 64, "height": 32}  # 4 x 2 tokens: room for four speaker strips
NATIVE_HEADS = {"dim": 320, "num_heads": 40}  # the host's native patch is built for 40 heads


def small(**extra) -> str:
    """--dims for the smallest case: a DiT this host's detection reads back (hosts before 0.15.1 ignore the file's
    config: head width 128, text width 4096) and a 64x32 frame."""
    spec = host_models.tiny_wan_spec()
    return json.dumps({"dim": spec.dim, "num_heads": spec.num_heads, "ffn_dim": spec.ffn_dim, "text_dim": spec.text_dim,
                       **SMALL, **extra})


def reads_heads_from_config() -> bool:
    return host_models.tiny_wan_spec() == host_models.TinyWan()


@pytest.fixture
def bench(host):
    """A bench module by name (they import each other by name); models unloaded afterwards."""
    sys.path.insert(0, str(BENCH))
    yield importlib.import_module
    sys.path.remove(str(BENCH))
    import comfy.model_management as mm

    mm.unload_all_models()


def errors(tree) -> list:
    """Every "error" a bench recorded anywhere in its report."""
    if isinstance(tree, dict):
        return ([tree["error"]] if "error" in tree else []) + [e for v in tree.values() for e in errors(v)]
    return []


def timed(row: dict) -> bool:
    return row["steps_timed"] >= 1 and math.isfinite(row["s_per_step"]) and row["s_per_step"] > 0


def test_adapter_forward_runs_every_case(bench):
    report = bench("adapter_forward").main(["--tiny", "--steps", "2", "--skip-native", "--dims", small()])
    results = report["results"]
    assert not errors(report)
    cases = [name for name in results if name != "norm_x precision"]
    assert len(cases) == 7 and all(timed(results[name]) for name in cases)
    assert results["norm_x precision"]["max_abs_err"] < 1e-5  # float32 on the CPU: the same LayerNorm


def test_host_speedups_runs_ours_and_plain_under_easycache(bench):
    report = bench("host_speedups").main(["--tiny", "--configs", "easycache", "--speakers", "2", "--steps", "2",
                                              "--dims", small()])
    rows = report["configs"]["easycache"]
    assert not errors(report)
    assert set(rows) == {"plain", "ours, 2 speaker(s)"} and all(timed(r) for r in rows.values())
    assert all(isinstance(r["steps_skipped"], list) for r in rows.values())
    assert rows["ours, 2 speaker(s)"]["latent_rel_diff_vs_plain"] > 1e-3  # the adapter really ran


def test_long_video_windows_times_every_phase(bench):
    report = bench("long_video_windows").main(["--tiny", "--windows", "2", "--steps", "1", "--dims", small()])
    assert report["frames"] == 9 + (9 - 5)  # tiny windows of 9 frames, 5 of them motion
    phases = [name for _, _, name in bench("long_video_windows").PHASES]
    assert [r["window"] for r in report["windows"]] == [0, 1]
    assert all(r[p] >= 0 for r in report["windows"] for p in phases)


def test_vae_decode_times_every_row(bench):
    report = bench("vae_decode").main(["--tiny", "--repeat", "1", "--dims", small()])
    assert set(report["seconds"]) == {"decode (comfy VAE.decode, to host)", "decoder only (on device)",
                                      "motion encode (9 frames)", "colour match (frames on host)",
                                      "colour match (frames on device)", "copy window device->host"}


def test_minute_of_video_runs_ours_and_native(bench):
    # where the host ignores the file's config, 40 heads means a 5120-wide DiT: too big here, so only ours runs
    names = ["ours", "native"] if reads_heads_from_config() else ["ours"]
    dims = small(**NATIVE_HEADS) if "native" in names else small()
    report = bench("minute_of_video").main(["--tiny", "--dims", dims, "--steps", "1", "--runs",
                                            ",".join(f"{n}:2" for n in names), "--minute-frames", "13"])
    assert not errors(report)
    runs = report["runs"]
    assert set(runs) == {f"{n}@default:13" for n in names}
    assert all(r["frames"] == 13 and len(r["window_s"]) == 2 for r in runs.values())
    assert report["minute_windows"] == 2


def test_audio_embed_one_length(bench):
    row = bench("audio_embed").one(0.02, threads=1)
    assert row["frames"] == 30  # 1.2 s at 25 fps


def test_benches_use_the_pack_the_host_loaded(bench, host):
    assert bench("adapter_forward").boot(None, cpu=True)[1] is host.pack

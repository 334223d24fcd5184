"""The long-video sampler on a MODEL from the host's TorchCompileModel (inductor): the frames of eager sampling,
nothing compiled after the first window, a second audio setting on the same compiled MODEL honoured without
compiling again, and a plain sampler on that compiled MODEL afterwards still right (it gets code of its own).
Graph: test_long_video.py (3 windows)."""
from __future__ import annotations

import shutil

import pytest
import torch

from comfy_host import graph
from model_chain import set_inputs, through
from tests.host.test_adapter_nodes import native_branch
from tests.host.test_long_video import OBSERVED, fps_for, hooked, long_graph


@pytest.fixture
def dynamo():
    """torch.compile's counters, from a clean cache; inductor on the CPU builds C++ and needs a compiler."""
    if not (shutil.which("g++") or shutil.which("c++")):
        pytest.skip("HOST TEST SKIPPED: inductor needs a C++ compiler on the CPU (apt-get install g++)")
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    yield counters
    torch._dynamo.reset()


def test_torch_compile_model_same_frames_no_recompiles_across_windows(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                      voices, dynamo):
    def prompt(key, audio_scale):
        p = long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps_for(voices["male"], 15.5), seed=41,
                       capture=key, observed=True)
        set_inputs(p, OBSERVED, audio_cfg=1.0)  # one pass a step: batch 1, as the native run below
        return set_inputs(p, "MTS_Wav2VecEmbeds", audio_scale=audio_scale)

    eager, compiled, graphs = {}, {}, []
    for scale in (1.0, 0.5):
        eager[scale] = host.run(prompt(f"eager{scale}", scale)).captured[f"frameseager{scale}"]
    assert (eager[1.0] - eager[0.5]).abs().max() > 0.1  # the audio scale matters (far beyond inductor's rounding)
    with hooked(lambda e, i: graphs.append(dynamo["stats"]["unique_graphs"]) if e == "window_done" else None):
        for scale in (1.0, 0.5):
            p = through(prompt(f"compiled{scale}", scale), OBSERVED, "TorchCompileModel",
                        backend="inductor")
            compiled[scale] = host.run(p).captured[f"framescompiled{scale}"]

    assert len(graphs) == 6 and graphs[0] > 0  # the DiT was compiled in the first window...
    assert graphs == [graphs[0]] * 6  # ...and nothing after it: not for a new window, not for another audio scale
    for scale in (1.0, 0.5):
        torch.testing.assert_close(compiled[scale], eager[scale], rtol=0, atol=5e-4)

    # the native I2V sampler on the same loader, eager and then through TorchCompileModel after our runs
    native = {}
    for compile_ in (False, True):
        g = graph()
        model = g.node("UNETLoader", unet_name=tiny_wan["unet"], weight_dtype="default")
        if compile_:
            model = g.node("TorchCompileModel", model=model.out(0), backend="inductor")
        native_branch(g, model.out(0), g.node("VAELoader", vae_name=tiny_wan["vae"]).out(0), tiny_wan, f"native{compile_}")
        native[compile_] = host.run(g.finalize()).captured[f"native{compile_}"]["samples"]
    torch.testing.assert_close(native[True], native[False], rtol=0, atol=5e-4)

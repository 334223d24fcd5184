"""The text + audio CFG guider on the real host, observed through the host's own wrapper points.

A test-only node records every model call of a sampling (what each pass got, what it returned) and the guider's
prediction per step. The prediction must equal a float64 re-derivation of the upstream formula on the recorded
per-pass outputs; each pass must have been given the right text and the right audio (real or null), checked on
the audio cross-attention's residual in block 0 against a float64 re-derivation from the adapter file; and the
host's own CFG patches (APG, RescaleCFG, CFG-Zero*) must shape the result as they define it.
"""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

import adapter_reference as ref
import guidance_reference as guidance
import model_recorder
from single_window import core_sampler, window_graph

# pass names by cond index, and (text, audio) each pass must get
PASSES = {
    (5.0, 4.0): {0: ("cond", "positive", "real"), 1: ("no_text", "negative", "real"), 2: ("neither", "negative", "null")},
    (1.0, 3.0): {0: ("cond", "positive", "real"), 1: ("no_audio", "positive", "null")},
    (5.0, 1.0): {0: ("cond", "positive", "real"), 1: ("no_text", "negative", "real")},
    (1.0, 1.0): {0: ("cond", "positive", "real")},
}


def key_of(text_cfg, audio_cfg, patch=""):
    return f"guider_{text_cfg:g}_{audio_cfg:g}{patch}"


def guided_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, scales, patch=None):
    """One window (one speaker, so no speaker routing) sampled by the guider at each (text, audio) cfg pair, each
    through its own recorder; `patch`: (node type, inputs) of a host CFG patch applied to the MODEL first."""
    parts = {}
    g, apply, vae = window_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, speakers=1, parts=parts)
    model = apply.out(0)
    if patch is not None:
        model = g.node(patch[0], model=model, **patch[1]).out(0)
    suffix = "" if patch is None else "_" + patch[0]
    for text_cfg, audio_cfg in scales:
        recorded = g.node("MTSTest_RecordModel", model=model, key=key_of(text_cfg, audio_cfg, suffix))
        guider = g.node("MTS_AudioCFGGuider", model=recorded.out(0), positive=apply.out(1), negative=apply.out(2),
                        text_cfg=text_cfg, audio_cfg=audio_cfg)
        core_sampler(g, guider, apply, vae, "latent" + key_of(text_cfg, audio_cfg, suffix))
    g.node("MTSTest_Capture", value=parts["embeds"].out(0), key="embeds")
    g.node("MTSTest_Capture", value=apply.out(1), key="positive")
    g.node("MTSTest_Capture", value=apply.out(2), key="negative")
    return g.finalize()


def run_recorded(host, prompt):
    model_recorder.RECORDS.clear()
    captured = host.run(prompt).captured
    return captured, dict(model_recorder.RECORDS)


def per_pass(calls, field):
    """{cond index: that pass's rows of `field`} from the model calls of one step (batched in any order)."""
    out = {}
    for call in calls:
        chunks = call[field].chunk(len(call["conds"]))
        for cond, chunk in zip(call["conds"], chunks):
            assert cond not in out, f"cond {cond} was run twice in one step"
            out[cond] = chunk
    return out


def audio_references(host, tiny_adapter, tiny_wan, embeds, length=9):
    """Float64 adapter tokens for the window's real audio and for null audio (one speaker of zero features)."""
    sd = load_file(str(host.model_path("model_patches", tiny_adapter)))
    features = embeds.features.to(torch.float64)  # [S, T, L, C]
    last = features.shape[1] - 1
    rows = [[min(max(f + o, 0), last) for o in range(-2, 3)] for f in range(length)]
    windows = features[:, torch.tensor(rows)]  # [S, F, 5, L, C]: frame f reads rows f-2..f+2, clamped
    tokens, token_dim = 32, 768
    real = ref.projection(sd, windows, tokens, token_dim)[0]
    null = ref.projection(sd, torch.zeros_like(windows[:1]), tokens, token_dim)[0]
    return sd, {"real": real, "null": null}


def assert_audio_per_pass(dit_calls, expected, sd, tokens, heads):
    """In block 0 the audio patch's residual of every row equals the reference for its pass's audio only."""
    seen = set()
    for call in dit_calls:
        for entry in (e for e in call["attn2"] if e["block"] == 0):
            rows = entry["x"].shape[0] // len(entry["conds"])
            for chunk, cond in enumerate(entry["conds"]):
                want = expected[cond][2]
                for r in range(chunk * rows, (chunk + 1) * rows):
                    residual = entry["out"][r] - entry["x"][r]
                    errors = {kind: ref.rel_err(residual, ref.audio_attention(sd, 0, entry["x"][r], t, heads))
                              for kind, t in tokens.items()}
                    assert errors[want] < 1e-4, (cond, want, errors)
                    other = "null" if want == "real" else "real"
                    assert errors[other] > 1e-2, (cond, want, errors)
                seen.add(cond)
    assert seen == set(expected)


def test_guided_prediction_is_the_upstream_formula_and_each_pass_gets_its_text_and_audio(
        host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    captured, records = run_recorded(host, guided_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, PASSES))
    sd, tokens = audio_references(host, tiny_adapter, tiny_wan, captured["embeds"])
    texts = {name: captured[name][0][0] for name in ("positive", "negative")}
    for (text_cfg, audio_cfg), expected in PASSES.items():
        rec = records[key_of(text_cfg, audio_cfg)]
        assert len(rec.guided) == 2  # two euler steps, one prediction each
        for step in rec.guided:
            calls, dit_calls = rec.at(step["step"])
            outputs, inputs, contexts = per_pass(calls, "out"), per_pass(calls, "x"), per_pass(calls, "context")
            assert set(outputs) == set(expected), (text_cfg, audio_cfg, sorted(outputs))  # 3, 2 or 1 passes
            for cond, (name, text, _audio) in expected.items():
                torch.testing.assert_close(inputs[cond], step["x"], rtol=0, atol=0)
                torch.testing.assert_close(contexts[cond][:, :texts[text].shape[1]], texts[text].expand_as(
                    contexts[cond][:, :texts[text].shape[1]]), rtol=0, atol=0)
            want = guidance.upstream_guidance(text_cfg, audio_cfg, {expected[c][0]: o for c, o in outputs.items()})
            assert ref.rel_err(step["out"], want) < 2e-6, (text_cfg, audio_cfg, ref.rel_err(step["out"], want))
            assert_audio_per_pass(dit_calls, expected, sd, tokens, tiny_wan["spec"].num_heads)


HOOKED = [(5.0, 4.0), (1.0, 3.0)]


def recorded_triples(rec, text_cfg, audio_cfg):
    """Per step: (sigma, x, the host triple, the guided output) from a recording."""
    names = PASSES[(text_cfg, audio_cfg)]
    out = []
    for step in rec.guided:
        calls, _ = rec.at(step["step"])
        passes = {names[c][0]: o for c, o in per_pass(calls, "out").items()}
        out.append((float(step["sigma"].flatten()[0]), step["x"].to(torch.float64),
                    guidance.host_triple(text_cfg, audio_cfg, passes), step["out"],
                    guidance.upstream_guidance(text_cfg, audio_cfg, passes)))
    return out


def test_hosts_apg_node_shapes_the_guidance_as_it_defines(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    """APG (a pre-CFG function) with the official momentum -0.75 and eta 0; a threshold low enough to clip here."""
    settings = dict(eta=0.0, norm_threshold=0.5, momentum=-0.75)
    _, records = run_recorded(host, guided_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, HOOKED,
                                                 patch=("APG", settings)))
    for text_cfg, audio_cfg in HOOKED:
        apg = guidance.HostAPG(**settings)
        for sigma, _x, (cond, uncond, scale), got, plain in recorded_triples(
                records[key_of(text_cfg, audio_cfg, "_APG")], text_cfg, audio_cfg):
            want = apg(sigma, cond, uncond, scale)
            assert ref.rel_err(got, want) < 1e-5, (text_cfg, audio_cfg, sigma, ref.rel_err(got, want))
            assert ref.rel_err(got, plain) > 1e-2  # APG changed the result
        assert apg.clipped and apg.running is not None


def test_hosts_rescale_cfg_node_shapes_the_guidance(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    _, records = run_recorded(host, guided_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, HOOKED,
                                                 patch=("RescaleCFG", {"multiplier": 0.7})))
    for text_cfg, audio_cfg in HOOKED:
        rec = records[key_of(text_cfg, audio_cfg, "_RescaleCFG")]
        for _sigma, _x, (cond, uncond, scale), got, plain in recorded_triples(rec, text_cfg, audio_cfg):
            want = guidance.rescale_cfg_flow(cond, uncond, scale, 0.7)
            assert ref.rel_err(got, want) < 1e-5, (text_cfg, audio_cfg, ref.rel_err(got, want))
            assert ref.rel_err(got, plain) > 1e-2


@pytest.mark.parametrize("scales", [(5.0, 4.0)])
def test_post_cfg_functions_see_the_guided_prediction(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, scales):
    """CFG-Zero* (a post-CFG function) works on the guider's result and the triple it was made from."""
    _, records = run_recorded(host, guided_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, [scales],
                                                 patch=("CFGZeroStar", {})))
    for _sigma, x, (cond, uncond, scale), got, plain in recorded_triples(
            records[key_of(*scales, "_CFGZeroStar")], *scales):
        want = guidance.cfg_zero_star(x, cond, uncond, scale)
        assert ref.rel_err(got, want) < 1e-5, ref.rel_err(got, want)
        assert ref.rel_err(got, plain) > 1e-3

"""Audio nodes in the real host: loader, 1-4 speaker embeds with real voices, silent embeds, bad input."""
from __future__ import annotations

import contextlib
from fractions import Fraction

import numpy as np
import soundfile
import torch

from comfy_host import graph


def embeds_graph(wav2vec2_name, files, **kw):
    g = graph()
    w2v = g.node("MTS_Wav2VecModelLoader", model=wav2vec2_name, precision="fp32", device="cpu")
    audios = {f"audio_{k + 1}": g.node("LoadAudio", audio=name).out(0) for k, name in enumerate(files)}
    inputs = dict(fps=25.0, num_frames=0, audio_scale=1.0, normalize_loudness=True, multi_audio_type="para",
                  masks_include_background=False)
    inputs.update(kw)
    node = g.node("MTS_Wav2VecEmbeds", wav2vec2=w2v.out(0), **audios, **inputs)
    g.node("MTSTest_Capture", value=node.out(0), key="embeds")
    g.node("MTSTest_Capture", value=node.out(1), key="audio")
    g.node("MTSTest_Capture", value=node.out(2), key="frames")
    return g


def frames(samples, rate, fps=25):
    return samples * fps // rate


def is_silence(rows, silence):
    return torch.allclose(rows, silence.expand_as(rows), atol=1e-5)


def test_two_real_voices_para(host, wav2vec2_name, voices):
    male, female = voices["male"], voices["female"]
    out = host.run(embeds_graph(wav2vec2_name, [male["file"], female["file"]]).finalize()).captured
    emb = out["embeds"]
    total = max(frames(male["samples"], male["rate"]), frames(female["samples"], female["rate"]))
    assert tuple(emb.features.shape) == (2, total, 12, 768)
    assert out["frames"] == total
    # the muxed audio lasts exactly the frames: samples = frames / fps * rate
    assert out["audio"]["waveform"].shape[-1] == int(Fraction(total, 25) * out["audio"]["sample_rate"])
    # the shorter track is padded with encoded silence (never zeros) after its end
    shorter = 0 if frames(male["samples"], male["rate"]) < frames(female["samples"], female["rate"]) else 1
    end = frames(voices[["male", "female"][shorter]]["samples"], voices["male"]["rate"])
    tail = emb.features[shorter, end + 1:]
    assert tail.abs().sum() > 0 and is_silence(tail, emb.silence)
    assert not is_silence(emb.features[shorter, : end - 5], emb.silence)


def test_turn_taking_add_places_second_voice_after_first(host, wav2vec2_name, voices):
    male, female = voices["male"], voices["female"]
    out = host.run(embeds_graph(wav2vec2_name, [male["file"], female["file"]], multi_audio_type="add").finalize()).captured
    emb = out["embeds"]
    first = frames(male["samples"], male["rate"])
    # speaker 2 starts at frames_for_samples(offset) of the 16 kHz timeline; speaker 1 is silent after its track
    start = frames(male["samples"] * 16000 // male["rate"], 16000)
    assert emb.num_frames == out["frames"] >= first
    assert is_silence(emb.features[1, : start - 1], emb.silence)
    assert is_silence(emb.features[0, first + 1:], emb.silence)
    assert not is_silence(emb.features[1, start + 2: start + 20], emb.silence)


def test_timeline_overlap_and_fixed_length(host, wav2vec2_name, voices):
    male, female = voices["male"], voices["female"]
    out = host.run(embeds_graph(wav2vec2_name, [male["file"], female["file"]], multi_audio_type="timeline",
                                **{"multi_audio_type.timeline_starts": "0, 1.0"}, num_frames=60).finalize()).captured
    emb = out["embeds"]
    assert emb.num_frames == 60 and out["frames"] == 60
    assert is_silence(emb.features[1, :24], emb.silence)  # speaker 2 starts at 1.0 s = frame 25
    assert not is_silence(emb.features[1, 26:40], emb.silence)
    assert out["audio"]["waveform"].shape[-1] == int(Fraction(60, 25) * out["audio"]["sample_rate"])


def test_mask_beyond_audio_is_a_silent_speaker(host, wav2vec2_name, voices):
    prompt = embeds_graph(wav2vec2_name, [voices["male"]["file"]]).finalize()
    prompt["m1"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 48}}
    prompt["m2"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 48}}
    prompt["mb"] = {"class_type": "MTSTest_StackMasks", "inputs": {"mask_1": ["m1", 0], "mask_2": ["m2", 0]}}
    embeds_id = next(k for k, v in prompt.items() if v["class_type"] == "MTS_Wav2VecEmbeds")
    prompt[embeds_id]["inputs"]["ref_target_masks"] = ["mb", 0]
    out = host.run(prompt)
    emb = out.captured["embeds"]
    assert emb.num_speakers == 2 and emb.silent_speakers == (1,)
    assert is_silence(emb.features[1], emb.silence)
    shown = str(out.ui_outputs)
    assert "silent speakers" in shown and "2" in shown


def test_more_tracks_than_masks_is_an_error_naming_both_counts(host, wav2vec2_name, voices):
    prompt = embeds_graph(wav2vec2_name, [voices["male"]["file"], voices["female"]["file"]]).finalize()
    prompt["m1"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 48}}
    embeds_id = next(k for k, v in prompt.items() if v["class_type"] == "MTS_Wav2VecEmbeds")
    prompt[embeds_id]["inputs"]["ref_target_masks"] = ["m1", 0]
    message = host.failure(prompt)
    assert "ref_target_masks" in message and "1 speaker mask" in message and "2 audio tracks" in message


def test_silent_embeds_are_encoded_silence(host, wav2vec2_name):
    g = graph()
    w2v = g.node("MTS_Wav2VecModelLoader", model=wav2vec2_name, precision="fp32", device="cpu")
    node = g.node("MTS_SilentEmbeds", wav2vec2=w2v.out(0), num_frames=33, fps=25.0, audio_scale=1.0, num_speakers=1)
    g.node("MTSTest_Capture", value=node.out(0), key="embeds")
    emb = host.run(g.finalize()).captured["embeds"]
    assert tuple(emb.features.shape) == (1, 33, 12, 768)
    assert emb.features.abs().sum() > 0 and is_silence(emb.features[0], emb.silence)


def test_negative_timeline_start_names_the_node_input(host, wav2vec2_name, voices):
    prompt = embeds_graph(wav2vec2_name, [voices["male"]["file"], voices["female"]["file"]],
                          multi_audio_type="timeline", **{"multi_audio_type.timeline_starts": "0, -0.5"}).finalize()
    message = host.failure(prompt)
    assert "timeline_starts" in message and "negative" in message and "starts_seconds" not in message


def test_the_encoder_is_loaded_and_offloaded_by_the_hosts_memory_manager(host, wav2vec2_name, voices):
    """Like core's audio encoders: the embeds node has the host load the encoder (fp16 asked for, but on the CPU
    it computes in fp32, so it is kept in fp32), and the host's own unloading takes it out again."""
    import comfy.model_management as mm

    g = embeds_graph(wav2vec2_name, [voices["short"]["file"]])
    loader = next(n for n in g.nodes.values() if n.class_type == "MTS_Wav2VecModelLoader")
    loader.inputs["precision"] = "fp16"
    g.node("MTSTest_Capture", value=loader.out(0), key="w2v")
    handle = host.run(g.finalize()).captured["w2v"]
    loaded = [m.model for m in mm.current_loaded_models]
    assert handle.patcher in loaded, "the encoder never went through comfy.model_management"
    assert {p.dtype for p in handle.patcher.model.parameters()} == {torch.float32}
    mm.unload_all_models()
    assert handle.patcher not in [m.model for m in mm.current_loaded_models]


@contextlib.contextmanager
def encoder_inputs():
    """Every waveform a wav2vec2 receives: what its first convolution (the only one with one input channel) gets,
    caught with torch's global forward pre-hook."""
    waves = []

    def hook(module, args):
        if isinstance(module, torch.nn.Conv1d) and module.in_channels == 1:
            waves.append(args[0].detach().reshape(-1).to("cpu", torch.float64).clone())

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield waves
    finally:
        handle.remove()


def lufs(wave, rate) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(rate).integrated_loudness(np.asarray(wave, dtype=np.float64)))


def test_voices_reach_the_encoder_at_minus_23_lufs_unless_normalisation_is_off(host, wav2vec2_name, voices):
    """The official recipe encodes every voice at -23 LUFS: a quiet and a loud copy of a voice both arrive there
    (the node's default target); with normalize_loudness off they arrive at their own levels."""
    source = voices["male"]
    wave, rate = soundfile.read(str(host.workdir / "input" / source["file"]), dtype="float64")
    levels = {"quiet": -33.0, "loud": -15.0}
    for name, level in levels.items():
        soundfile.write(str(host.workdir / "input" / f"lufs_{name}.wav"),
                        wave * 10 ** ((level - lufs(wave, rate)) / 20), rate, subtype="FLOAT")
    files = [f"lufs_{name}.wav" for name in levels]
    measured = {}
    for normalise in (True, False):
        with encoder_inputs() as waves:
            host.run(embeds_graph(wav2vec2_name, files, normalize_loudness=normalise).finalize())
        heard = [w for w in waves if w.abs().max() > 0 and w.numel() > 16000 // 2]  # not the encoded silence
        assert heard, "the encoder was given no voice"
        measured[normalise] = [lufs(w.numpy(), 16000) for w in heard]
    assert all(abs(level + 23.0) < 0.05 for level in measured[True]), measured
    # off: each voice arrives at its own level (resampled to 16 kHz, so within half a LU)
    nearest = [min(levels.values(), key=lambda level: abs(level - value)) for value in measured[False]]
    assert set(nearest) == set(levels.values()), measured
    assert all(abs(value - level) < 0.5 for value, level in zip(measured[False], nearest)), measured

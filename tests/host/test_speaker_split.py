"""Audio to Speakers in the real host: one dialogue file in, speaker tracks out, straight into the embeds node."""
from __future__ import annotations

import pytest
import soundfile
import torch

import dialogue_audio


def graph():
    from comfy_execution.graph_utils import GraphBuilder

    return GraphBuilder()


@pytest.fixture(scope="module")
def dialogue_file(host):
    if not dialogue_audio.have_espeak():
        pytest.skip("HOST TEST SKIPPED: espeak-ng is not installed")
    dialogue = dialogue_audio.make_dialogue(dialogue_audio.TURNS[:2])
    name = "mts_dialogue.wav"
    soundfile.write(str(host.workdir / "input" / name), dialogue.wave, dialogue.rate)
    return name, dialogue


def split_graph(name, wav2vec2_name=None, **kw):
    g = graph()
    audio = g.node("LoadAudio", audio=name)
    inputs = dict(mode="auto diarization", num_speakers=0, timeline="", order="", min_gap_seconds=0.5, fade_ms=20)
    inputs.update(kw)
    split = g.node("MTS_AudioToSpeakers", audio=audio.out(0), **inputs)
    for k in range(4):
        g.node("MTSTest_Capture", value=split.out(k), key=f"audio_{k + 1}")
    g.node("MTSTest_Capture", value=split.out(4), key="summary")
    if wav2vec2_name:
        w2v = g.node("MTS_Wav2VecModelLoader", model=wav2vec2_name, precision="fp32", device="cpu")
        embeds = g.node("MTS_Wav2VecEmbeds", wav2vec2=w2v.out(0), audio_1=split.out(0), audio_2=split.out(1), fps=25.0,
                        num_frames=0, audio_scale=1.0, normalize_loudness=True, multi_audio_type="para",
                        masks_include_background=False)
        g.node("MTSTest_Capture", value=embeds.out(0), key="embeds")
        g.node("MTSTest_Capture", value=embeds.out(2), key="frames")
    return g


def test_auto_split_feeds_the_embeds_node(host, wav2vec2_name, dialogue_file):
    pytest.importorskip("resemblyzer")
    name, dialogue = dialogue_file
    out = host.run(split_graph(name, wav2vec2_name).finalize()).captured
    tracks = [out[f"audio_{k + 1}"]["waveform"][0, 0].numpy() for k in range(4)]
    assert all(t.shape[0] == len(dialogue.wave) for t in tracks)
    assert out["audio_3"]["waveform"].abs().max() == 0 and out["audio_4"]["waveform"].abs().max() == 0
    for speaker, start, end in dialogue.turns:  # every turn's middle is heard on its own speaker's track only
        mid = slice(start + (end - start) // 4, end - (end - start) // 4)
        loud = [float(abs(t[mid]).max()) for t in tracks[:2]]
        assert loud[speaker - 1] > 0.05 and loud[2 - speaker] == 0, (speaker, loud)
    assert "2 speaker(s) found" in out["summary"] and "speaker 1" in out["summary"]
    emb = out["embeds"]
    assert tuple(emb.features.shape[:2]) == (2, out["frames"])
    assert out["frames"] == len(dialogue.wave) * 25 // dialogue.rate


def test_timeline_mode_with_reorder_is_exact(host, dialogue_file):
    name, dialogue = dialogue_file
    out = host.run(split_graph(name, mode="timeline", timeline="1: 0-2, 2: 2-end", order="2,1", fade_ms=0)
                   .finalize()).captured
    rate = out["audio_1"]["sample_rate"]
    cut = 2 * rate
    original = torch.from_numpy(dialogue.wave)
    first, second = out["audio_1"]["waveform"][0, 0], out["audio_2"]["waveform"][0, 0]
    assert rate == dialogue.rate
    assert torch.allclose(first[cut:], original[cut:], atol=1e-4) and torch.all(first[:cut] == 0)  # speaker 2 first
    assert torch.allclose(second[:cut], original[:cut], atol=1e-4) and torch.all(second[cut:] == 0)


def test_silent_input_is_a_clear_error(host):
    name = "mts_silence.wav"
    soundfile.write(str(host.workdir / "input" / name), torch.zeros(32000).numpy(), 16000)
    result = host.run(split_graph(name).finalize(), expect_success=False)
    assert not result.success
    assert "audio: is silent" in result.error()["exception_message"]

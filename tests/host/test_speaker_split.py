"""Audio to Speakers in the real host: one dialogue file in, speaker tracks out, straight into the embeds node."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile
import torch

import cached_assets
import dialogue_audio
from comfy_host import graph

WEIGHTS_NAME = "voice_encoder_test.pt"


@pytest.fixture(scope="module")
def diarization_folder(host):
    """The host's models/diarization, holding a copy of the real voice encoder weights."""
    import folder_paths

    from wan_multitalk.audio.voice_encoder import bundled_weights

    assert "diarization" in folder_paths.folder_names_and_paths, "the pack did not register models/diarization"
    folder = host.models_dir / "diarization"
    folder.mkdir(parents=True, exist_ok=True)
    folder_paths.add_model_folder_path("diarization", str(folder), is_default=True)
    source = bundled_weights()
    if source is None:
        cached_assets.missing("HOST TEST: the voice encoder weights (resemblyzer's pretrained.pt)")
    shutil.copyfile(source, folder / WEIGHTS_NAME)
    return folder


def write_dialogue(host, name, dialogue):
    soundfile.write(str(host.workdir / "input" / name), dialogue.wave, dialogue.rate)
    return name


@pytest.fixture(scope="module")
def dialogue_file(host):
    if not dialogue_audio.have_espeak():
        pytest.skip("HOST TEST SKIPPED: espeak-ng is not installed")
    dialogue = dialogue_audio.make_dialogue(dialogue_audio.TURNS[:2])
    return write_dialogue(host, "mts_dialogue.wav", dialogue), dialogue


def split_graph(name, wav2vec2_name=None, **kw):
    g = graph()
    audio = g.node("LoadAudio", audio=name)
    mode = kw.pop("mode", "auto diarization")
    nested = dict(num_speakers=0, min_gap_seconds=0.5, voice_encoder="auto", detect_overlap=True) \
        if mode == "auto diarization" else dict(timeline="")
    common = dict(order="", fade_ms=20)
    for key, value in kw.items():  # the mode's own inputs live under it (a dynamic combo)
        (common if key in common else nested)[key] = value
    split = g.node("MTS_AudioToSpeakers", audio=audio.out(0), mode=mode, **common,
                   **{f"mode.{key}": value for key, value in nested.items()})
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


def test_auto_split_feeds_the_embeds_node(host, wav2vec2_name, dialogue_file, diarization_folder):
    name, dialogue = dialogue_file
    out = host.run(split_graph(name, wav2vec2_name, voice_encoder=WEIGHTS_NAME).finalize()).captured
    tracks = [out[f"audio_{k + 1}"]["waveform"][0, 0].numpy() for k in range(4)]
    assert all(t.shape[0] == len(dialogue.wave) for t in tracks)
    assert out["audio_3"]["waveform"].abs().max() == 0 and out["audio_4"]["waveform"].abs().max() == 0
    for speaker, start, end in dialogue.turns:  # every turn's middle is heard on its own speaker's track only
        mid = slice(start + (end - start) // 4, end - (end - start) // 4)
        loud = [float(abs(t[mid]).max()) for t in tracks[:2]]
        assert loud[speaker - 1] > 0.05 and loud[2 - speaker] == 0, (speaker, loud)
    assert "2 speaker(s) found" in out["summary"] and f"voice encoder {WEIGHTS_NAME}" in out["summary"]
    emb = out["embeds"]
    assert tuple(emb.features.shape[:2]) == (2, out["frames"])
    assert out["frames"] == len(dialogue.wave) * 25 // dialogue.rate


def test_overlapped_speech_is_heard_on_both_tracks(host, diarization_folder):
    if not dialogue_audio.have_espeak():
        pytest.skip("HOST TEST SKIPPED: espeak-ng is not installed")
    dialogue = dialogue_audio.make_dialogue(dialogue_audio.TURNS[:3], interruptions={1: 1.3})
    name = write_dialogue(host, "mts_overlap.wav", dialogue)
    out = host.run(split_graph(name, num_speakers=2, voice_encoder="auto").finalize()).captured
    tracks = [out[f"audio_{k + 1}"]["waveform"][0, 0].numpy() for k in range(2)]
    (start, end), = dialogue.overlaps
    middle = slice(start + (end - start) // 4, end - (end - start) // 4)
    assert np.abs(dialogue.wave[middle]).max() > 0.1
    assert all(np.allclose(t[middle], dialogue.wave[middle], atol=1e-4) for t in tracks)  # both carry it, untouched
    for speaker, a, b in dialogue.turns:  # outside the overlap each turn's middle belongs to one track
        alone = np.zeros(len(dialogue.wave), bool)
        alone[a + (b - a) // 4: b - (b - a) // 4] = True
        alone[start - dialogue.rate // 2: end + dialogue.rate // 2] = False
        assert np.abs(tracks[2 - speaker][alone]).max() == 0 and np.abs(tracks[speaker - 1][alone]).max() > 0.05


def test_wrong_weights_file_is_a_clear_error(host, dialogue_file, diarization_folder):
    name, _ = dialogue_file
    wrong = diarization_folder / "not_a_voice_encoder.pt"
    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3)}, wrong)
    try:
        message = host.failure(split_graph(name, voice_encoder=wrong.name).finalize())
    finally:
        wrong.unlink()
    assert "voice_encoder: 'not_a_voice_encoder.pt' is not the resemblyzer voice encoder" in message
    assert "models/diarization" in message


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
    assert "audio: is silent" in host.failure(split_graph(name).finalize())

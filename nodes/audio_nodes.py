"""Audio nodes: the wav2vec2 loader, speaker embeds for 1-4 tracks, and silent embeds."""
from __future__ import annotations

import logging

import comfy.utils
import torch
from comfy_api.latest import io, ui

from ..wan_multitalk.audio.placement import MODES, mix_tracks, parse_start_times, place_features, place_tracks
from ..wan_multitalk.audio.wav2vec2 import load_wav2vec2
from ..wan_multitalk.audio.waveform import normalize_loudness as loudness_normalized, prepare_waveform
from ..wan_multitalk.embeds import SpeakerEmbeds, check_speaker_masks, describe
from ..wan_multitalk.limits import MAX_SPEAKERS
from ..wan_multitalk.timebase import duration
from ..wan_multitalk.video.long_video import fit_audio
from .host.folders import WAV2VEC2_FOLDER, list_models, resolve_model
from .host.wav2vec2 import Wav2VecHandle, torch_device
from .sockets import EMBEDS, WAV2VEC2

log = logging.getLogger("multitalk_studio")
CATEGORY = "MultiTalk Studio/audio"
PRECISIONS = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


class Wav2VecModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_Wav2VecModelLoader",
            display_name="Wav2vec2 Model Loader",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "Wav2VecModelLoader", "DownloadAndLoadWav2VecModel",
                            "chinese-wav2vec2-base", "audio encoder"],
            description="Loads chinese-wav2vec2-base, the audio encoder MultiTalk and InfiniteTalk were trained with.",
            inputs=[
                io.Combo.Input("model", options=list_models("audio_encoders", WAV2VEC2_FOLDER, with_hf_folders=True),
                               tooltip="chinese-wav2vec2-base: one safetensors file in models/audio_encoders or "
                                       "models/wav2vec2, or its Hugging Face folder in models/wav2vec2."),
                io.Combo.Input("precision", options=list(PRECISIONS), default="fp16", advanced=True,
                               tooltip="Compute precision on the GPU. On the CPU the encoder always runs in fp32."),
                io.Combo.Input("device", options=["main_device", "cpu"], default="main_device", advanced=True,
                               tooltip="Where the audio is encoded. The model rests on the offload device between runs."),
            ],
            outputs=[WAV2VEC2.Output(display_name="wav2vec2",
                                     tooltip="The encoder, for the Wav2vec2 Embeds and Silent Embeds nodes.")],
        )

    @classmethod
    def execute(cls, model, precision, device) -> io.NodeOutput:
        path = resolve_model(model, "audio_encoders", WAV2VEC2_FOLDER, input_name="model")
        # Half precision convolutions on a CPU are slow and partly unsupported: there the encoder computes in fp32.
        dtype = PRECISIONS[precision] if torch_device(device).type != "cpu" else torch.float32
        return io.NodeOutput(Wav2VecHandle(load_wav2vec2(path, dtype=dtype), device))


def placement_modes() -> io.DynamicCombo.Input:
    """multi_audio_type, with timeline_starts shown only for timeline."""
    starts = io.String.Input("timeline_starts", default="",
                             tooltip="Start second of each track, comma separated, e.g. '0, 3.2'.")
    return io.DynamicCombo.Input(
        "multi_audio_type", options=[io.DynamicCombo.Option(mode, [starts] if mode == "timeline" else [])
                                     for mode in MODES],
        tooltip="para: all speakers start together (overlap possible). add: turn-taking in input order. timeline: "
                "each track starts at its time in timeline_starts.")


class Wav2VecEmbeds(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        # Fixed audio_1..4 rather than an Autogrow: ComfyUI 0.12.0's frontend (1.37) drops the second and later
        # Autogrow links when a saved workflow is loaded again.
        audio_tip = "Voice of speaker {k}, any sample rate or channel count (mixed to mono for the encoder)."
        return io.Schema(
            node_id="MTS_Wav2VecEmbeds",
            display_name="Multi/InfiniteTalk Wav2vec2 Embeds",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "MultiTalkWav2VecEmbeds", "wav2vec2 embeds", "audio embeds",
                            "speech features"],
            description="wav2vec2 features per video frame for 1-4 speakers, placed on one timeline.",
            inputs=[
                WAV2VEC2.Input("wav2vec2", tooltip="From Wav2vec2 Model Loader."),
                *(io.Audio.Input(f"audio_{k}", optional=k > 1, tooltip=audio_tip.format(k=k))
                  for k in range(1, MAX_SPEAKERS + 1)),
                io.Mask.Input("ref_target_masks", optional=True,
                              tooltip="One mask per speaker in audio order (from Speaker Masks). Masks beyond the last "
                                      "audio are silent speakers: those people are held quiet."),
                io.Boolean.Input("masks_include_background", default=False, advanced=True,
                                 tooltip="The last mask is the background, not a speaker."),
                io.Float.Input("fps", default=25.0, min=1.0, max=120.0, step=0.01,
                               tooltip="Video frame rate; one feature row per frame. MultiTalk/InfiniteTalk use 25."),
                io.Int.Input("num_frames", default=0, min=0, max=1_000_000, advanced=True,
                             tooltip="0 follows the audio. Otherwise the timeline is cut or padded with silence to this."),
                io.Float.Input("audio_scale", default=1.0, min=-10.0, max=10.0, step=0.01, advanced=True,
                               tooltip="Strength of the audio cross-attention (1 = as trained)."),
                io.Boolean.Input("normalize_loudness", default=True, advanced=True,
                                 tooltip="Bring each voice to -23 LUFS before encoding, as the official code does. "
                                         "Silent tracks are left alone; the AUDIO output keeps the original levels."),
                placement_modes(),
            ],
            outputs=[EMBEDS.Output(display_name="embeds",
                                   tooltip="Every speaker's features on the video timeline, for the samplers."),
                     io.Audio.Output(display_name="audio",
                                     tooltip="The voices mixed at their placed times, exactly num_frames / fps "
                                             "seconds long: mux this one."),
                     io.Int.Output(display_name="num_frames", tooltip="Video frames the audio spans.")],
        )

    @classmethod
    def execute(cls, wav2vec2, audio_1, fps, num_frames, audio_scale, normalize_loudness, multi_audio_type: dict,
                masks_include_background, audio_2=None, audio_3=None, audio_4=None,
                ref_target_masks=None) -> io.NodeOutput:
        tracks = [(f"audio_{k + 1}", a) for k, a in enumerate((audio_1, audio_2, audio_3, audio_4)) if a is not None]
        masked = check_speaker_masks(ref_target_masks, masks_include_background, len(tracks))
        waves = [prepare_waveform(a["waveform"], a["sample_rate"], name) for name, a in tracks]
        mode = multi_audio_type["multi_audio_type"]
        starts = parse_start_times(multi_audio_type.get("timeline_starts"), len(tracks), "timeline_starts") \
            if mode == "timeline" else None
        placement = place_tracks([duration(a["waveform"].shape[-1], a["sample_rate"]) for _, a in tracks], fps,
                                 mode, starts, starts_input="timeline_starts")

        bar = comfy.utils.ProgressBar(len(waves))
        features = []
        for (name, _), wave in zip(tracks, waves):
            if normalize_loudness:
                wave = loudness_normalized(wave, 16000)
            features.append(wav2vec2.encode(wave, fps, name))
            bar.update(1)
        silence = wav2vec2.silence_row(fps)
        silent = tuple(range(len(tracks), max(masked, len(tracks))))
        total = num_frames or placement.total_frames
        placed = place_features(features + [None] * len(silent), placement.with_silent_speakers(len(silent)),
                                silence, total_frames=total)

        mix, rate = mix_tracks([a["waveform"][0] for _, a in tracks], [a["sample_rate"] for _, a in tracks], placement)
        audio = fit_audio({"waveform": mix, "sample_rate": rate}, total, fps)
        embeds = SpeakerEmbeds(features=placed, fps=fps, audio_scale=audio_scale, silence=silence,
                               masks=ref_target_masks, silent_speakers=silent)
        summary = describe(len(tracks), silent, total, fps)
        log.info("[MultiTalk Studio] %s", summary)
        return io.NodeOutput(embeds, audio, total, ui=ui.PreviewText(summary))


class SilentEmbeds(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_SilentEmbeds",
            display_name="MultiTalk Silent Embeds",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "MultiTalkSilentEmbeds", "silence", "idle", "listening"],
            description="Features of real silence (closed mouths) for N frames: idle or listening segments.",
            inputs=[
                WAV2VEC2.Input("wav2vec2", tooltip="The encoder whose silence the model should see."),
                io.Int.Input("num_frames", default=81, min=1, max=1_000_000, tooltip="Length in video frames."),
                io.Float.Input("fps", default=25.0, min=1.0, max=120.0, step=0.01, tooltip="Video frame rate."),
                io.Float.Input("audio_scale", default=1.0, min=-10.0, max=10.0, step=0.01, advanced=True,
                               tooltip="Strength of the audio cross-attention (1 = as trained)."),
                io.Int.Input("num_speakers", default=1, min=1, max=MAX_SPEAKERS,
                             tooltip="How many quiet speakers. This node takes no masks: with more than one, the "
                                     "sampler spreads them over equal vertical strips."),
            ],
            outputs=[EMBEDS.Output(display_name="embeds", tooltip="Silent speaker embeds for the samplers."),
                     io.Audio.Output(display_name="audio", tooltip="Silence, exactly num_frames / fps seconds long."),
                     io.Int.Output(display_name="num_frames", tooltip="The frame count, as given.")],
        )

    @classmethod
    def execute(cls, wav2vec2, num_frames, fps, audio_scale, num_speakers) -> io.NodeOutput:
        row = wav2vec2.silence_row(fps)
        features = row.expand((num_speakers, num_frames) + tuple(row.shape)).clone()
        audio = fit_audio({"waveform": torch.zeros(1, 1, 0), "sample_rate": 16000}, num_frames, fps)
        embeds = SpeakerEmbeds(features=features, fps=fps, audio_scale=audio_scale, silence=row,
                               silent_speakers=tuple(range(num_speakers)))
        return io.NodeOutput(embeds, audio, num_frames)


AUDIO_NODES = [Wav2VecModelLoader, Wav2VecEmbeds, SilentEmbeds]

"""Audio to Speakers: one recorded conversation in, one gated track per speaker out."""
from __future__ import annotations

import logging
import os

import torch
from comfy_api.latest import io, ui

from ..wan_multitalk.audio.diarization import check_auto_diarization, diarize
from ..wan_multitalk.audio.speaker_gating import (activity_masks, bridge_short_gaps, gate_tracks, onset_order,
                                                  parse_order, summarize)
from ..wan_multitalk.audio.speaker_timeline import EXAMPLE, parse_timeline
from ..wan_multitalk.audio.voice_encoder import resolve_weights
from ..wan_multitalk.audio.waveform import as_channels_first
from ..wan_multitalk.errors import InputError
from ..wan_multitalk.limits import MAX_SPEAKERS
from ..wan_multitalk.timebase import check_sample_rate
from .host.folders import DIARIZATION_FOLDER, list_models, voice_encoder_candidates

log = logging.getLogger("multitalk_studio")
CATEGORY = "MultiTalk Studio/audio"
MODES = ("auto diarization", "timeline")
MIN_TIMELINE_SECONDS = 0.1
AUTO_WEIGHTS = "auto"


def split_modes() -> io.DynamicCombo.Input:
    """The two ways to say who speaks when, each with only its own inputs."""
    auto = [
        io.Int.Input("num_speakers", default=0, min=0, max=MAX_SPEAKERS,
                     tooltip="0 = find the number of speakers (1-4), or fix it to 2-4."),
        io.Float.Input("min_gap_seconds", default=0.5, min=0.0, max=5.0, step=0.05, advanced=True,
                       tooltip="Pauses, speaker changes and overlaps shorter than this do not flip the speaker (a "
                               "short pause stays in the speaker's track)."),
        io.Combo.Input("voice_encoder", options=[AUTO_WEIGHTS, *list_models(DIARIZATION_FOLDER)], default=AUTO_WEIGHTS,
                       advanced=True,
                       tooltip="The voice encoder weights (resemblyzer's pretrained.pt, 17 MB) in models/diarization. "
                               "auto: the first file there, else the copy inside an installed resemblyzer package."),
        io.Boolean.Input("detect_overlap", default=True, advanced=True,
                         tooltip="Where two people talk at once, give that stretch to both tracks. Off: every moment "
                                 "goes to one speaker only."),
    ]
    timeline = [io.String.Input("timeline", default="", multiline=True,
                                tooltip=f"speaker: start-end seconds, e.g. '{EXAMPLE}'. A speaker may have several "
                                        "spans ('1: 0-3.2 6.5-end'); overlapping spans go to both.")]
    return io.DynamicCombo.Input(
        "mode", options=[io.DynamicCombo.Option(MODES[0], auto), io.DynamicCombo.Option(MODES[1], timeline)],
        tooltip="auto diarization: find who speaks when from the voices (offline, CPU; works best when voices are "
                "distinct; where two talk at once both tracks get it). timeline: you type who speaks when; no model, "
                "exact to the sample.")


class AudioToSpeakers(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_AudioToSpeakers",
            display_name="Audio to Speakers",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "diarization", "speaker separation", "split speakers",
                            "who speaks when"],
            description="Splits one recorded conversation into one track per speaker (the original audio, gated "
                        "to when that person speaks), ready for the Wav2vec2 Embeds node in para mode. Offline.",
            inputs=[
                io.Audio.Input("audio", tooltip="One recording of the whole conversation, any sample rate or channels."),
                split_modes(),
                io.String.Input("order", default="",
                                tooltip="Reorder the output tracks, e.g. '2,1' puts speaker 2 on audio_1. Empty: in "
                                        "auto mode who speaks first is speaker 1; in timeline mode your numbers."),
                io.Int.Input("fade_ms", default=20, min=0, max=500, advanced=True,
                             tooltip="Length of the fade in/out added outside each cut, so gating does not click."),
            ],
            outputs=[*(io.Audio.Output(display_name=f"audio_{k + 1}",
                                       tooltip=f"Speaker {k + 1}'s track: the recording, silent where speaker "
                                               f"{k + 1} does not talk; as long as the input"
                                               + ("." if k < 2 else " (all silent when there are fewer speakers)."))
                       for k in range(MAX_SPEAKERS)),
                     io.String.Output(display_name="summary",
                                      tooltip="Who speaks when (seconds per speaker), also shown on the node.")],
        )

    @classmethod
    def execute(cls, audio, mode: dict, order, fade_ms) -> io.NodeOutput:
        rate = check_sample_rate(audio["sample_rate"], "audio")
        wave = as_channels_first(audio["waveform"], "audio", rate)
        num_samples = wave.shape[-1]
        if float(wave.abs().max()) < 1e-4:
            raise InputError("audio", "is silent (peak below -80 dBFS): there is nobody to assign.",
                             "Connect a recording that contains speech.")
        if mode["mode"] == "timeline":
            if num_samples < MIN_TIMELINE_SECONDS * rate:
                raise InputError("audio", f"is only {num_samples / rate:.3f} s long.", "Connect the whole conversation.")
            segments = parse_timeline(mode["timeline"], rate, num_samples, "timeline")
            count = max(s.speaker for s in segments) + 1
            masks = activity_masks(segments, num_samples, count)
            how = "timeline"
        elif mode["mode"] == "auto diarization":
            check_auto_diarization("mode")  # scikit-learn and webrtcvad are optional: only this mode needs them
            requested, min_gap = int(mode["num_speakers"]), float(mode["min_gap_seconds"])
            weights = resolve_weights(voice_encoder_candidates(mode["voice_encoder"], AUTO_WEIGHTS, "voice_encoder"),
                                      "voice_encoder")
            segments, count = diarize(audio["waveform"], rate, requested, min_gap, "audio", weights=[weights],
                                      detect_overlap=bool(mode["detect_overlap"]))
            masks = activity_masks(segments, num_samples, count)
            masks = bridge_short_gaps(masks, int(round(min_gap * rate)))
            masks = masks[onset_order(masks)]
            how = (f"auto diarization, {count} speaker(s) {'found' if not requested else 'requested'}, "
                   f"voice encoder {os.path.basename(weights)}")
        else:
            raise InputError("mode", f"'{mode['mode']}' is not a mode.", f"Choose one of: {', '.join(MODES)}.")
        masks = masks[parse_order(order, count, "order")]
        tracks = gate_tracks(wave, masks, int(round(fade_ms * rate / 1000)))
        silent = torch.zeros_like(wave)
        outputs = [{"waveform": t[None].contiguous(), "sample_rate": rate} for t in tracks[:MAX_SPEAKERS]]
        outputs += [{"waveform": silent[None].clone(), "sample_rate": rate} for _ in range(MAX_SPEAKERS - len(outputs))]
        summary = summarize(masks, rate, header=f"{how}; {num_samples / rate:.2f} s")
        if count < MAX_SPEAKERS:
            summary += "\n" + ", ".join(f"audio_{k + 1}" for k in range(count, MAX_SPEAKERS)) + ": silent"
        log.info("[MultiTalk Studio] Audio to Speakers: %s", summary.replace("\n", " | "))
        return io.NodeOutput(*outputs, summary, ui=ui.PreviewText(summary))


SPEAKER_SPLIT_NODES = [AudioToSpeakers]

"""Host-free library for MultiTalk / InfiniteTalk on Wan 2.1.

Nothing in this package imports ComfyUI: host facilities (linear-layer classes, the attention
function, progress and interruption callbacks) are passed in by the node layer.

    timebase         seconds, samples, video and latent frames: the one rounding rule
    limits           the limits every part shares (speakers)
    errors           InputError: the input, the problem and the fix
    embeds           SpeakerEmbeds, the audio conditioning from the embeds node to the samplers
    masks            typed regions -> pixel masks -> token masks, and the token preview
    regions          the Speaker Masks widget's drawn regions: JSON schema, parsing, rasterising
    speaker_routing  which tokens each speaker's audio drives, fitted to the video
    audio/           waveform, wav2vec2 features per frame, placement, silence, speaker separation
    adapter/         weights, projection, audio cross-attention, label RoPE, the patch objects
    video/           windows, dubbing, colour, frame sinks
"""

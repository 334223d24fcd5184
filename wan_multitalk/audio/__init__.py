"""Audio side: wav2vec2 features per video frame, loudness, placement of 1-4 speaker tracks, silence.

Modules, in pipeline order:
    waveform      AUDIO -> mono 16 kHz float32; resampling; loudness to -23 LUFS
    wav2vec2      load chinese-wav2vec2-base from any common checkpoint spelling
    cnn_frontend  the conv front-end on audio of any length, globally interpolated to frames
    features      encode_features: the official recipe, one row per video frame, chunked when long
    silence       features of real silence (the padding row)
    placement     para / add / timeline placement of 1-4 tracks; features and mux mix
    frame_audio   the 5 feature rows around each video frame that the adapter reads

One recording of a conversation split into per-speaker tracks (the Audio to Speakers node):
    voice_encoder     resemblyzer's speaker embedding, host-free
    diarization       who speaks when, from the voices
    speaker_timeline  who speaks when, typed by the user
    speaker_gating    speaking activity -> one gated copy of the recording per speaker
"""

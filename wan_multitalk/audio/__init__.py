"""Audio side: wav2vec2 features per video frame, loudness, placement of 1-4 speaker tracks, silence.

Modules, in pipeline order:
    waveform      AUDIO -> mono 16 kHz float32; resampling; loudness to -23 LUFS
    wav2vec2      load chinese-wav2vec2-base from any common checkpoint spelling
    timing        exact sample <-> frame arithmetic (frames_for_samples)
    cnn_frontend  the conv front-end on audio of any length, globally interpolated to frames
    features      encode_features: the official recipe, one row per video frame, chunked when long
    silence       features of real silence (the padding row)
    placement     para / add / timeline placement of 1-4 tracks; features and mux mix
    windows       the 5-row window around each video frame for the adapter
"""

"""Audio side: wav2vec2 features per video frame, loudness, placement of 1-4 speaker tracks, silence."""

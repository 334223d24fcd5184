"""Limits every part of the pack shares.

MAX_SPEAKERS: the label RoPE bands (`adapter.label_rope`) are laid out for at most four speakers; the
audio placement, the speaker masks, the widget and the diarization all stop there too.
"""

MAX_SPEAKERS = 4

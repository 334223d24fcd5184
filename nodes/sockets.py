"""Socket types the core has no equivalent for. Prefixed so kijai's same-named objects never plug in."""
from comfy_api.latest import io

WAV2VEC2 = io.Custom("MTS_WAV2VEC2")
EMBEDS = io.Custom("MTS_AUDIO_EMBEDS")
ADAPTER = io.Custom("MTS_AUDIO_ADAPTER")
LONG_PLAN = io.Custom("MTS_LONG_PLAN")

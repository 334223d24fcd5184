"""The MultiTalk / InfiniteTalk audio adapter: weights, projection, audio cross-attention, label RoPE."""

"""Host-free library for MultiTalk / InfiniteTalk on Wan 2.1.

Nothing in this package imports ComfyUI: host facilities (linear-layer classes, the attention
function, progress and interruption callbacks) are passed in by the node layer.
"""

"""Everything that touches ComfyUI beyond the node schemas: the one place the pack integrates with the host.

    folders     model folders and files, input images, temp pictures, the output folder
    wav2vec2    the audio encoder on the host's devices
    adapter     the audio adapter in the memory manager, patched onto a MODEL clone
    i2v         Wan I2V conditioning of a window and the motion latents held during sampling
    guider      the text + audio CFG guider
    vae         decoding with the frames left on the device
    long_video  the long-video plan and the runner that samples it window by window
"""

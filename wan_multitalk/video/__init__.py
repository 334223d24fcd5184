"""Long video: generation windows, dubbing sources, colour matching, stitching and trimming.

resize        cover-and-centre-crop geometry shared by the reference image and speaker masks
windows       a video of any length as overlapping generation windows
long_video    per-window bookkeeping of the runner: motion frames, prompts, sigmas, length, audio fit
dubbing       a source video resampled to the output rate, fitted one window at a time
frame_sink    collect finished frames in RAM or stream them to a folder
frame_writer  hand finished frames to the sink from a background thread
colour        Reinhard Lab colour match to the reference, on the frames' device
"""

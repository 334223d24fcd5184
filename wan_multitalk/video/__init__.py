"""Long video: window planning, colour matching, stitching and trimming.

resize      cover-and-centre-crop geometry shared by the reference image and speaker masks
windows     window plan for any length, exact frame/audio arithmetic, dubbing keyframes, fps
frame_sink  collect finished frames in RAM or stream them to a folder
colour      Reinhard Lab colour match to the reference, on the frames' device
"""

"""Long video: window planning, colour matching, stitching and trimming."""

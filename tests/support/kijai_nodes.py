"""kijai's ComfyUI-WanVideoWrapper MultiTalk nodes as his users know them (read from his `multitalk/nodes.py`,
`fantasytalking/nodes.py` and `nodes_sampler.py`): node id -> (display name, the node of this pack doing that
job). Many users have both packs installed."""

KIJAI = {
    "Wav2VecModelLoader": ("Wav2vec2 Model Loader", "MTS_Wav2VecModelLoader"),
    "DownloadAndLoadWav2VecModel": ("(Down)load Wav2Vec Model", "MTS_Wav2VecModelLoader"),
    "MultiTalkModelLoader": ("Multi/InfiniteTalk Model Loader", "MTS_AdapterLoader"),
    "MultiTalkWav2VecEmbeds": ("Multi/InfiniteTalk Wav2vec2 Embeds", "MTS_Wav2VecEmbeds"),
    "MultiTalkSilentEmbeds": ("MultiTalk Silent Embeds", "MTS_SilentEmbeds"),
    "WanVideoImageToVideoMultiTalk": ("WanVideo Long I2V Multi/InfiniteTalk", "MTS_LongI2VPlan"),
    "WanVideoSampler": ("WanVideo Sampler", "MTS_LongVideoSampler"),
}

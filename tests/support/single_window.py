"""The single-window graph the adapter and guider host tests share: real voices -> embeds -> Apply, tiny models."""
from __future__ import annotations

from comfy_host import graph

SIZE = dict(width=64, height=48)


def window_graph(tiny_wan, adapter_name, wav2vec2_name, voices, speakers=2, length=9, swap=False, parts=None):
    """Loader -> embeds of real voices with strip masks -> Apply -> (the caller adds a sampler).
    `parts`: a dict that receives the inner nodes (embeds) for the caller to capture."""
    g = graph()
    model = g.node("UNETLoader", unet_name=tiny_wan["unet"], weight_dtype="default")
    vae = g.node("VAELoader", vae_name=tiny_wan["vae"])
    adapter = g.node("MTS_AdapterLoader", model_name=adapter_name, variant="auto")
    w2v = g.node("MTS_Wav2VecModelLoader", model=wav2vec2_name, precision="fp32", device="cpu")
    names = ["female", "male"] if swap else ["male", "female"]
    audios = {f"audio_{k + 1}": g.node("LoadAudio", audio=voices[names[k]]["file"]).out(0) for k in range(speakers)}
    masks = g.node("MTSTest_StripMasks", count=speakers, **SIZE)
    embeds = g.node("MTS_Wav2VecEmbeds", wav2vec2=w2v.out(0), **audios, ref_target_masks=masks.out(0), fps=25.0,
                    num_frames=0, audio_scale=1.0, normalize_loudness=True, multi_audio_type="para",
                    masks_include_background=False)
    pos = g.node("MTSTest_RandomConditioning", seed=1, tokens=8, width=tiny_wan["spec"].text_dim)
    neg = g.node("MTSTest_RandomConditioning", seed=2, tokens=8, width=tiny_wan["spec"].text_dim)
    image = g.node("MTSTest_RandomImage", seed=4, width=80, height=48, batch=1)
    clip = g.node("MTSTest_RandomClipVisionOutput", seed=3)
    apply = g.node("MTS_ApplyAudioAdapter", model=model.out(0), adapter=adapter.out(0), embeds=embeds.out(0),
                   positive=pos.out(0), negative=neg.out(0), vae=vae.out(0), length=length, audio_start_frame=0,
                   motion_frame=9, start_image=image.out(0), clip_vision_output=clip.out(0), **SIZE)
    if parts is not None:
        parts.update(embeds=embeds)
    return g, apply, vae


def core_sampler(g, guider, apply, vae, key):
    noise = g.node("RandomNoise", noise_seed=7)
    sampler = g.node("KSamplerSelect", sampler_name="euler")
    sigmas = g.node("BasicScheduler", model=apply.out(0), scheduler="simple", steps=2, denoise=1.0)
    out = g.node("SamplerCustomAdvanced", noise=noise.out(0), guider=guider.out(0), sampler=sampler.out(0),
                 sigmas=sigmas.out(0), latent_image=apply.out(3))
    g.node("MTSTest_Capture", value=out.out(0), key=key)

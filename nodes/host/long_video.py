"""The long-video runner: one window after another through ComfyUI's own sampling.

Per window (`WindowStep`): the frame audio at the window's exact frame offset, a patched MODEL clone, the I2V
conditioning, the motion latents (the previous window's decoded, colour-matched tail), `AudioCFGGuider.sample` with
the user's SAMPLER / SIGMAS and per-window seeded noise, decode, colour match, keep the new frames. Nothing but the
frame sink and the tail of `motion` frames survives a window, so memory stays flat.

Observers given to the runner are called as observer(event, info) at window_start, audio, encoded, step, sampled,
decoded, coloured and window_done, and at clip_encoded when a window's CLIP vision is encoded (the tests and
bench/long_video_windows.py watch the windows this way).

With an output folder every finished window is a checkpoint (wan_multitalk.video.checkpoint): the same prompt
queued again after an interrupt, a crash or a restart continues after the last finished window and makes the frames
an uninterrupted run makes. The node shows the progress, step and window previews and a status line (`RunView`).
"""
from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import comfy.model_management as mm
import comfy.sample
import comfy.utils
import torch

from ...wan_multitalk.embeds import SpeakerEmbeds
from ...wan_multitalk.speaker_routing import speaker_routing
from ...wan_multitalk.video.checkpoint import CheckpointFolder, Resume
from ...wan_multitalk.video.colour import match_colour
from ...wan_multitalk.video.dubbing import DubbingSource
from ...wan_multitalk.video.frame_sink import FrameSink
from ...wan_multitalk.video.frame_writer import BackgroundWriter
from ...wan_multitalk.video.long_video import WindowFrames, denoised_sigmas, prompt_index, video_length
from ...wan_multitalk.video.windows import Window, split_windows
from .adapter import AdapterHandle, audio_conditioning, patch_model
from .folders import interrupted_frames_folder, output_folder_path
from .guider import AudioCFGGuider
from .i2v import I2VConditioner, WindowClipVision
from .identity import job_fingerprint
from .preview import RunView
from .progress_text import show_on_node
from .vae import decoder_on_device

log = logging.getLogger("multitalk_studio")
Observer = Callable[[str, dict], None]


@dataclass
class LongVideoPlan:
    """What the plan node validated and the sampler needs (socket MTS_LONG_PLAN)."""

    vae: object
    width: int
    height: int
    window_size: int
    motion: int
    mode: str  # auto / infinitetalk / multitalk
    colour_strength: float  # 0 = off
    reference: torch.Tensor | None  # [1, H, W, 3] fitted start image
    source_video: torch.Tensor | None  # [N, h, w, 3] as given (fitted per window, lazily)
    source_fps: float
    face_mask: torch.Tensor | None  # [M, h, w], 1 = may change
    denoise: float
    clip_vision_output: object  # one CLIP vision output for every window (or None)
    output_folder: str  # "" = RAM
    reference_size: tuple[int, int] | None = None  # (width, height) of the start image or source video as given
    clip_vision: object = None  # a CLIP vision model: each window's conditioning image is encoded (official)
    start_over: bool = True  # the folder holds a run of other inputs: set it aside and start over (else stop)

    def variant(self, adapter: AdapterHandle) -> str:
        return adapter.variant if self.mode == "auto" else self.mode

    def dubbing_source(self, fps) -> DubbingSource | None:
        if self.source_video is None:
            return None
        return DubbingSource(self.source_video, self.source_fps, fps, self.face_mask, (self.width, self.height))


@dataclass
class WindowNoise:
    """The initial noise of window k: from `seed + k`, or from the NOISE input with its seed + k."""

    seed: int
    noise: object | None = None

    def for_window(self, latent: torch.Tensor, index: int) -> tuple[torch.Tensor, int]:
        if self.noise is None:
            seed = int(self.seed) + index
            return comfy.sample.prepare_noise(latent, seed), seed
        noise = copy.copy(self.noise)
        if hasattr(noise, "seed"):
            noise.seed = int(self.noise.seed) + index
        # a NOISE without a seed gives the same noise to every window; the MultiTalk motion noise still varies
        return noise.generate_noise({"samples": latent}), int(getattr(noise, "seed", int(self.seed) + index))


@dataclass
class LongVideoJob:
    """One long video to make, as the sampler node gets it; prompts[k] is window k's (the last repeats)."""

    model: object
    adapter: AdapterHandle
    embeds: SpeakerEmbeds
    plan: LongVideoPlan
    prompts: list
    negative: list
    sampler: object
    sigmas: torch.Tensor
    noise: WindowNoise
    guidance: tuple[float, float]  # text cfg, audio cfg
    audio: dict | None = None  # the speech; sets the length unless dubbing

    @property
    def total_frames(self) -> int:
        plan = self.plan
        source = (plan.source_video.shape[0], plan.source_fps) if plan.source_video is not None else None
        return video_length(self.embeds.num_frames, self.embeds.fps, self.audio, source)


@dataclass(frozen=True)
class WindowStep:
    """What differs from one window to the next: the window, its reference (the plan's image, or the dubbing
    keyframe), its prompt and the previous window's tail it continues from."""

    window: Window
    keyframe: int | None
    reference: torch.Tensor | None
    prompt: int
    tail: torch.Tensor | None


@dataclass
class _Run:
    """What stays the same for every window of one job."""

    job: LongVideoJob
    variant: str
    windows: list[Window]
    source: DubbingSource | None
    colour_reference: torch.Tensor | None
    sigmas: torch.Tensor
    conditioner: I2VConditioner
    clip: WindowClipVision
    decoder: object
    routing: object
    writer: BackgroundWriter
    view: RunView
    checkpoint: CheckpointFolder | None
    reference_values: dict = field(default_factory=dict)  # the latest reference's I2V values, by keyframe

    @property
    def starts_from_source(self) -> bool:
        plan = self.job.plan
        return self.source is not None and (plan.denoise < 1.0 or plan.face_mask is not None)


class LongVideoRunner:
    """Runs a `LongVideoJob`. `background_writes`: hand finished frames to the sink from a thread (None: on CUDA
    devices only, where the device-to-host copy is worth overlapping)."""

    def __init__(self, observers: Sequence[Observer] = (), background_writes: bool | None = None):
        self.observers, self.background_writes = tuple(observers), background_writes

    def run(self, job: LongVideoJob):
        """Returns (frames or FrameFolder, the output folder or None)."""
        plan, total = job.plan, job.total_frames
        windows = split_windows(total, plan.window_size, plan.motion)
        folder = output_folder_path(plan.output_folder)
        checkpoint = CheckpointFolder(folder, job_fingerprint(job), len(windows)) if folder is not None else None
        resume = checkpoint.open(plan.start_over) if checkpoint is not None else Resume()
        sink = FrameSink(folder, file_format="png", resume_at=resume.frames)
        threaded = mm.get_torch_device().type == "cuda" if self.background_writes is None else self.background_writes
        run = self._start(job, windows, BackgroundWriter(sink, threaded=threaded), checkpoint)
        log.info("[MultiTalk Studio] long video: %d frames in %d windows of %d (motion %d, %s)", total,
                 len(run.windows), plan.window_size, plan.motion, run.variant)
        run.view.begin(resume, folder)
        # the previous window's last `motion` frames, colour-matched, where the decoder leaves its frames
        tail = None if resume.tail is None else resume.tail.to(getattr(plan.vae, "device", "cpu"))
        try:
            for window in run.windows[resume.windows_done:]:
                tail = self._sample(run, self._step(run, window, tail))
            run.writer.wait()
        except mm.InterruptProcessingException:
            run.writer.wait()
            kept = _keep_on_interrupt(sink)
            message = (f"interrupted after {_finished(run, sink)} of {len(run.windows)} windows: {sink.count} "
                       f"finished frames kept in {kept}{_again(checkpoint)}")
            log.warning("[MultiTalk Studio] %s", message)
            show_on_node(f"MultiTalk Studio: {message}")  # the UI shows only "interrupted" otherwise
            raise
        except Exception:
            if checkpoint is not None:
                log.error("[MultiTalk Studio] stopped by an error after %d of %d windows; %d finished frames are in "
                          "%s%s", _finished(run, sink), len(run.windows), sink.count, folder, _again(checkpoint))
            raise
        finally:
            run.writer.close()
        return sink.result(), folder

    def _emit(self, event: str, **info) -> None:
        for observer in self.observers:
            observer(event, info)

    @staticmethod
    def _start(job: LongVideoJob, windows: list[Window], writer: BackgroundWriter,
               checkpoint: CheckpointFolder | None) -> _Run:
        plan = job.plan
        source = plan.dubbing_source(job.embeds.fps)
        sigmas = denoised_sigmas(job.sigmas, plan.denoise) if source is not None else job.sigmas
        steps = int(sigmas.shape[-1]) - 1
        return _Run(job=job, variant=plan.variant(job.adapter), windows=windows, source=source,
                    colour_reference=plan.reference if source is None else source.keyframe(windows[0])[1],
                    sigmas=sigmas, writer=writer, view=RunView(job.model, steps, len(windows)), checkpoint=checkpoint,
                    conditioner=I2VConditioner(plan.vae, plan.width, plan.height, plan.window_size),
                    clip=WindowClipVision(plan.clip_vision, plan.clip_vision_output),
                    decoder=decoder_on_device(plan.vae),
                    # the same for every window
                    routing=speaker_routing(job.embeds, plan.width, plan.height, plan.reference_size))

    @staticmethod
    def _step(run: _Run, window: Window, tail: torch.Tensor | None) -> WindowStep:
        keyframe, reference = (None, run.job.plan.reference) if run.source is None else run.source.keyframe(window)
        return WindowStep(window, keyframe, reference, prompt_index(window.index, len(run.job.prompts)), tail)

    def _reference_values(self, run: _Run, step: WindowStep) -> dict:
        """The reference conditioning (a window-long VAE encode) is the same for every window that shares the
        reference: encode it once, keep only the latest so memory stays flat."""
        if run.reference_values.get("key", -1) != step.keyframe:
            run.reference_values = {"key": step.keyframe, "values": run.conditioner.values(step.reference)}
        return run.reference_values["values"]

    def _sample(self, run: _Run, step: WindowStep) -> torch.Tensor | None:
        """Make one window; returns its tail for the next window (None after the last)."""
        mm.throw_exception_if_processing_interrupted()  # stop before any work on a new window
        job, plan, w = run.job, run.job.plan, step.window
        run.view.window_start(w.index)
        self._emit("window_start", window=w, keyframe=step.keyframe, variant=run.variant, prompt=step.prompt)

        cond = audio_conditioning(job.adapter, job.embeds, run.routing, w.start, plan.window_size)
        self._emit("audio", window=w, frame_audio=cond.frame_audio)
        patched = patch_model(job.model, job.adapter, cond)
        frames = WindowFrames.for_variant(run.variant, step.reference, step.tail)
        knows_reference = frames.known is step.reference
        values = self._reference_values(run, step) if knows_reference else None
        clip, encoded = run.clip.output(("reference", step.keyframe) if knows_reference else ("tail", w.index),
                                        frames.known)
        if encoded:
            self._emit("clip_encoded", window=w, image=frames.known[-1:])
        latent = plan.vae.encode(run.source.window_frames(w)) if run.starts_from_source else \
            run.conditioner.empty_latent()
        noise, seed = job.noise.for_window(latent, w.index)
        # MultiTalk re-noises the motion latents with the window's own seed, so a NOISE input seeds them too
        positive, negative = run.conditioner.apply(patched, (job.prompts[step.prompt], job.negative), frames, values,
                                                   seed, clip)
        self._emit("encoded", window=w)
        guider = AudioCFGGuider(patched)
        guider.set_conds(positive, negative)
        guider.set_scales(*job.guidance)

        def callback(index, x0, x, total_steps):
            run.view.step(x0)
            self._emit("step", window=w, step=index)
            mm.throw_exception_if_processing_interrupted()

        samples = guider.sample(noise, latent, job.sampler, run.sigmas, callback=callback, disable_pbar=True, seed=seed,
                                denoise_mask=run.source.window_mask(w) if run.source is not None else None)
        del guider, patched, cond, positive, negative, noise, latent, values
        self._emit("sampled", window=w)
        decoded = run.decoder.decode(samples)
        del samples
        decoded = decoded.reshape(-1, *decoded.shape[-3:])[:plan.window_size]
        self._emit("decoded", window=w)
        if plan.colour_strength > 0 and run.colour_reference is not None:
            decoded = match_colour(decoded, run.colour_reference.to(decoded.device), plan.colour_strength)
        self._emit("coloured", window=w)
        run.writer.submit(decoded[w.keep_from:w.keep_to])
        tail = None if w.is_last else decoded[-plan.motion:].clone()
        if run.checkpoint is not None:  # recorded once the frames are on the disk
            run.writer.after(functools.partial(run.checkpoint.commit, w.index + 1, w.new_frames.stop, tail))
        run.view.window_done(decoded[w.keep_from:w.keep_to])
        self._emit("window_done", window=w, frames=decoded, count=run.writer.submitted)
        return tail


def _finished(run: _Run, sink: FrameSink) -> int:
    return sum(1 for w in run.windows if w.new_frames.stop <= sink.count)


def _again(checkpoint: CheckpointFolder | None) -> str:
    return "; queue the same prompt again to continue from there" if checkpoint is not None else ""


def _keep_on_interrupt(sink: FrameSink):
    """Finished windows survive an interrupt: already on disk in folder mode, written out in RAM mode."""
    if sink.folder is not None or sink.count == 0:
        return sink.folder
    folder = interrupted_frames_folder()
    FrameSink(folder, file_format="png").append(sink.result())
    return folder

"""What a user watching the sampler node sees during a long run: the progress bar over every step of every window,
the latent preview of each step (the host's previewer, following its preview method, as core samplers show it),
the finished frames of each window as a strip of pictures, and a status line ("resuming at window 3 of 8").

Everything goes through the host's progress bar and PromptServer.send_progress_text, so the frontend shows it on
the node with no extension of ours.
"""
from __future__ import annotations

import logging

import comfy.utils
import latent_preview
import torch
from comfy.cli_args import args
from comfy_execution.utils import get_executing_context
from PIL import Image

from ...wan_multitalk.video.checkpoint import Resume

log = logging.getLogger("multitalk_studio")
STRIP_FRAMES = 4  # pictures of a finished window shown side by side


class RunView:
    """The progress, previews and status text of one long run of `windows` windows of `steps` steps."""

    def __init__(self, model, steps: int, windows: int):
        self.steps, self.windows, self.note = max(1, steps), windows, ""
        self.progress = comfy.utils.ProgressBar(self.steps * windows)
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)
        context = get_executing_context()
        self.node_id = context.node_id if context is not None else None

    def begin(self, resume: Resume, folder) -> None:
        """Say how the run starts (resuming, starting over, already finished); a resumed run's finished windows
        count as done on the progress bar."""
        done, windows = resume.windows_done, self.windows
        if done >= windows:
            self.say(f"already finished: all {windows} windows are in {folder}")
        elif done:
            self.say(f"resuming at window {done + 1} of {windows} ({done} finished, {resume.frames} frames in "
                     f"{folder})")
            self.note = f" (resumed at window {done + 1})"
        elif resume.moved_to is not None:
            self.say(f"starting over: the folder held a run that cannot be continued ({resume.reason}); its files "
                     f"were moved to {resume.moved_to}")
        if done:
            self.progress.update_absolute(done * self.steps)

    def window_start(self, index: int) -> None:
        self.say(f"window {index + 1} of {self.windows}{self.note}", logged=False)

    def step(self, x0: torch.Tensor) -> None:
        """One sampling step done; its preview shows the newest latent frame (the first is the motion context)."""
        preview = None
        if self.previewer is not None:
            if getattr(x0, "is_nested", False):
                x0 = x0.unbind()[0]
            preview = self.previewer.decode_latent_to_preview_image("JPEG", x0[:1, :, -1:] if x0.ndim == 5 else x0)
        self.progress.update_absolute(self.progress.current + 1, preview=preview)

    def window_done(self, frames: torch.Tensor) -> None:
        """A window's finished frames [N, H, W, 3] as one strip of up to STRIP_FRAMES pictures."""
        if frames.shape[0] == 0:
            return
        strip = frame_strip(frames, args.preview_size)
        self.progress.update_absolute(self.progress.current, preview=("JPEG", strip, args.preview_size))

    def say(self, text: str, logged: bool = True) -> None:
        """A status line on the node (and in the log)."""
        if logged:
            log.info("[MultiTalk Studio] %s", text)
        if self.node_id is None:
            return
        try:
            from server import PromptServer

            PromptServer.instance.send_progress_text(text, self.node_id)
        except (ImportError, AttributeError) as error:  # a host without progress text: the log has it
            log.debug("no progress text: %s", error)


def frame_strip(frames: torch.Tensor, width: int) -> Image.Image:
    """Up to STRIP_FRAMES evenly spaced frames side by side, the strip `width` pixels wide (made on the frames'
    device, so only the small picture travels)."""
    count = min(STRIP_FRAMES, frames.shape[0])
    picks = torch.linspace(0, frames.shape[0] - 1, count).round().long().tolist()
    height, full = frames.shape[1], frames.shape[2]
    each = max(1, width // count)
    size = (max(1, round(height * each / full)), each)
    chosen = frames[picks].movedim(-1, 1).float()
    small = torch.nn.functional.interpolate(chosen, size=size, mode="area")
    strip = torch.cat(list(small), dim=-1).movedim(0, -1).clamp(0, 1)
    return Image.fromarray((strip * 255).round().to(torch.uint8).cpu().numpy())

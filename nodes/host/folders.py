"""ComfyUI's folders: model files (and the two model folders the pack adds), the input images, the temp
pictures the Speaker Masks widget shows, and the output folder long videos stream to."""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import folder_paths
import numpy as np
import torch
from PIL import Image, ImageOps

from ...wan_multitalk.errors import InputError

log = logging.getLogger("multitalk_studio")
WAV2VEC2_FOLDER = "wav2vec2"
DIARIZATION_FOLDER = "diarization"
WEIGHT_EXTENSIONS = {".pt", ".pth", ".safetensors"}


def register_model_folders() -> None:
    """`models/wav2vec2` (files or HF folders) and `models/diarization` (voice encoder weights) are not core
    folders: register them once, and create them, so users find where to drop files (and the frontend's
    missing-models list and model library know them)."""
    for name in (WAV2VEC2_FOLDER, DIARIZATION_FOLDER):
        default = os.path.join(folder_paths.models_dir, name)
        folder_paths.add_model_folder_path(name, default)  # no-op when already there (kijai's pack adds wav2vec2)
        try:
            os.makedirs(default, exist_ok=True)
        except OSError as exc:  # a read-only install: the folder is still registered, files can come later
            log.warning("[MultiTalk Studio] could not create %s (%s); create it to add %s files", default, exc, name)
    paths, extensions = folder_paths.folder_names_and_paths[DIARIZATION_FOLDER]
    if not extensions:  # created just now (or by extra_model_paths.yaml) without a filter: list weight files only
        folder_paths.folder_names_and_paths[DIARIZATION_FOLDER] = (paths, set(WEIGHT_EXTENSIONS))


def list_models(*folders: str, with_hf_folders: bool = False, keep=None) -> list[str]:
    """The model files in `folders` (with `keep`, only those whose full path it accepts)."""
    names: list[str] = []
    for folder in folders:
        try:
            found = folder_paths.get_filename_list(folder)
        except KeyError:
            continue
        if keep is not None:
            found = [n for n in found if (path := folder_paths.get_full_path(folder, n)) and keep(path)]
        names += found
        if with_hf_folders:
            for base in folder_paths.get_folder_paths(folder):
                if os.path.isdir(base):
                    names += sorted(d for d in os.listdir(base) if os.path.isfile(os.path.join(base, d, "config.json")))
    return sorted(dict.fromkeys(names))


def resolve_model(name: str, *folders: str, input_name: str) -> str:
    for folder in folders:
        try:
            path = folder_paths.get_full_path(folder, name)
        except KeyError:
            continue
        if path:
            return path
        for base in folder_paths.get_folder_paths(folder) if folder in folder_paths.folder_names_and_paths else []:
            candidate = os.path.join(base, name)
            if os.path.isdir(candidate):
                return candidate
    raise InputError(input_name, f"'{name}' was not found in models/{' or models/'.join(folders)}.",
                     "put the file there (or pick another) and press R to refresh the lists.")


def voice_encoder_candidates(choice: str, auto: str, input_name: str) -> list[str]:
    """Files to try for the voice encoder: the chosen one, or for `auto` every file in models/diarization."""
    if choice != auto:
        return [resolve_model(choice, DIARIZATION_FOLDER, input_name=input_name)]
    return [p for p in (folder_paths.get_full_path(DIARIZATION_FOLDER, n) for n in list_models(DIARIZATION_FOLDER)) if p]


def input_images() -> list[str]:
    """The images in ComfyUI's input folder, as the host's Load Image lists them."""
    input_dir = folder_paths.get_input_directory()
    try:
        files = [f for f in os.listdir(input_dir) if os.path.isfile(os.path.join(input_dir, f))]
    except OSError:
        files = []
    return sorted(folder_paths.filter_files_content_types(files, ["image"]))


def input_image_path(name: str, input_name: str) -> str:
    path = folder_paths.get_annotated_filepath(name)
    if not path or not os.path.isfile(path):
        raise InputError(input_name, f"'{name}' is not in ComfyUI's input folder.",
                         "connect the image input, or paste / drop / upload the image onto the node again.")
    return path


def load_input_image(name: str, input_name: str) -> torch.Tensor:
    """An image from the input folder as IMAGE [1, H, W, 3] (EXIF orientation applied, alpha dropped)."""
    with Image.open(input_image_path(name, input_name)) as img:
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0)[None]


def input_image_fingerprint(name: str) -> str:
    """Changes when the named input file does (its size and time), so the host re-runs the node."""
    try:
        stat = os.stat(folder_paths.get_annotated_filepath(name))
    except (OSError, TypeError):
        return f"missing:{name}"
    return f"{name}:{stat.st_size}:{stat.st_mtime_ns}"


def save_temp_png(picture: torch.Tensor, stem: str) -> dict:
    """Save [H, W, 3] in [0, 1] as a PNG in the temp folder under a content-derived name (the same picture gives
    the same file, so the widget's saved state does not change from run to run); returns the UI image entry."""
    array = (picture.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    digest = hashlib.sha1(array.tobytes()).hexdigest()[:16]
    filename = f"mts_{stem}_{digest}.png"
    path = os.path.join(folder_paths.get_temp_directory(), filename)
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(array).save(path, compress_level=1)
    return {"filename": filename, "subfolder": "", "type": "temp"}


def output_folder_path(folder: str) -> Path | None:
    """The folder a long video streams to: None (RAM) for blank text, relative paths under ComfyUI's output."""
    if not folder.strip():
        return None
    path = Path(folder.strip()).expanduser()
    return path if path.is_absolute() else Path(folder_paths.get_output_directory()) / path


def writable_output_folder(folder: str, input_name: str = "output_folder") -> Path | None:
    """`output_folder_path`, created now and written to once (a probe file, removed again), so a folder that cannot
    be created or written is refused before any window is sampled rather than after the first one."""
    path = output_folder_path(folder)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise InputError(input_name, f"'{path}' cannot be {'written to' if path.is_dir() else 'created'} "
                                     f"({error.strerror or error}).",
                         "choose a folder you may write to: a plain name (it goes under ComfyUI's output folder), "
                         "or a path on a drive with room for the frames.") from None
    return path


def interrupted_frames_folder() -> str:
    """A new folder under ComfyUI's output for the finished frames of an interrupted run (unique even twice a
    second)."""
    return tempfile.mkdtemp(prefix=f"multitalk_interrupted_{time.strftime('%Y%m%d_%H%M%S')}_",
                            dir=folder_paths.get_output_directory())

"""The few host facilities the nodes share: model folders, devices, progress, user-facing errors."""
from __future__ import annotations

import os

import comfy.model_management as mm
import folder_paths

from ..wan_multitalk.errors import InputError

WAV2VEC2_FOLDER = "wav2vec2"


def register_model_folders() -> None:
    """`models/wav2vec2` is not a core folder; register it once so users can drop files or HF folders there."""
    if WAV2VEC2_FOLDER not in folder_paths.folder_names_and_paths:
        folder_paths.add_model_folder_path(WAV2VEC2_FOLDER, os.path.join(folder_paths.models_dir, WAV2VEC2_FOLDER))


def list_models(*folders: str, with_hf_folders: bool = False) -> list[str]:
    names: list[str] = []
    for folder in folders:
        try:
            names += folder_paths.get_filename_list(folder)
        except KeyError:
            continue
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


def torch_device(choice: str):
    return mm.get_torch_device() if choice == "main_device" else mm.intermediate_device()


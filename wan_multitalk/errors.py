"""One error type for bad user input, so every message names the input and the fix."""
from __future__ import annotations

import os

ERROR_TYPE_MODULE = "multitalk_studio"
"""ComfyUI shows a failed node's exception type as `<module>.<class>`, and a custom node's modules are named after
the folder's path on disk; so InputError names itself by this short, stable module name instead."""
REDOWNLOAD = ("re-download it: the file is damaged or incomplete (compare its size with the download page). If it "
              "was renamed, give it back its real extension (.safetensors or .pt).")


class InputError(ValueError):
    """A user-facing input problem, raised before any expensive work starts.

    The message always says which input is wrong and what to do about it.
    """

    def __init__(self, input_name: str, problem: str, fix: str):
        self.input_name = input_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"{input_name}: {problem} Fix: {fix}")


InputError.__module__ = ERROR_TYPE_MODULE


def unreadable_file(input_name: str, path, error: BaseException, fix: str = REDOWNLOAD) -> InputError:
    """A weights file the reader choked on (truncated, header only, empty, or not weights at all), named by
    `input_name` with the reader's own first line of explanation."""
    reason = (str(error).strip().splitlines() or [""])[0][:200]
    return InputError(input_name, f"'{os.path.basename(str(path))}' could not be read as a weights file "
                                  f"({type(error).__name__}: {reason}).", fix)

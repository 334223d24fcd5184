"""The README's "Model files" table, read the way a user reads it: which folder each file goes in and where to
get it (the workflows' model metadata and the frontend's missing-models list are checked against it)."""
from __future__ import annotations

import re

from comfy_host import PACK_ROOT


def model_rows() -> list[str]:
    text = (PACK_ROOT / "README.md").read_text()
    table = text.split("## Model files", 1)[1].split("\n## ", 1)[0]
    return [r for r in table.splitlines() if r.startswith("| ") and not r.startswith("| file")]


def readme_model_files() -> dict[str, str]:
    """file name -> its folder cell (e.g. "`models/model_patches` (or `models/diffusion_models`)")."""
    files = {}
    for row in model_rows():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 2:
            for name in re.findall(r"`([^`]+\.safetensors)`", cells[0]):
                files[name] = cells[1]
    return files


def readme_folders(file: str) -> list[str]:
    """The models folders the README puts `file` in (e.g. ["model_patches", "diffusion_models"])."""
    return re.findall(r"models/(\w+)", readme_model_files().get(file, ""))


def url_problem(file: str, url: str) -> str | None:
    """Why `url` is not a download of `file` from where the README says to get it (None when it is): a Hugging
    Face `resolve` (or `blob`) URL of the file in the repository the file's row names ("same repo" = the first
    row's) and in the folder the row names."""
    rows = model_rows()
    row = next((r for r in rows if f"`{file}`" in r), "")
    first_repo = next(m.group(1) for r in rows if (m := re.search(r"huggingface\.co/([\w.-]+/[\w.-]+)", r)))
    parts = url.split("/")
    if not (url.startswith("https://huggingface.co/") and parts[5:6] in (["resolve"], ["blob"]) and parts[-1] == file):
        return f"{url!r} is not a Hugging Face download of {file}"
    repo, folder = "/".join(parts[3:5]), "/".join(parts[7:-1])
    if not row or not (f"huggingface.co/{repo}" in row or ("same repo" in row and repo == first_repo)):
        return f"{url!r}: {repo} is not where the README says to get {file}"
    if folder and f"`{folder}" not in row:
        return f"{url!r}: the README row of {file} does not name the folder {folder}"
    return None

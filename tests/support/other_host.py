"""Another booted host, in a subprocess (a test session boots one host in-process, and its imports stay
untouched); prints one JSON line.

    python other_host.py object-info HOST_ROOT WORKDIR
        the host's node definitions, as `workflow_api.host_object_info` gives them (this pack loaded)
    python other_host.py long-rss HOST_ROOT WORKDIR PROMPT_JSON
        a long-video prompt run in a fresh process: peak RSS after window 2 and at the end
    python other_host.py without HOST_ROOT WORKDIR kornia,sklearn,webrtcvad
        those modules made unimportable first; which of the pack's nodes registered, and how the features that
        need them (and those that do not) ran
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def hide(names) -> None:
    """Make the named top-level packages look uninstalled: `import` raises ModuleNotFoundError and
    `importlib.util.find_spec` answers None, as for a package that is not there."""
    for name in names:
        sys.modules[name] = None


def prompts() -> dict:
    """name -> API prompt: the plan with colour matching on and off, Audio to Speakers in both modes."""
    from comfy_host import graph

    out = {}
    for colour in ("on", "off"):
        g = graph()
        image = g.node("MTSTest_RandomImage", seed=1, width=64, height=48, batch=1)
        vae = g.node("VAELoader", vae_name="tiny_wan21_vae.safetensors")
        plan = g.node("MTS_LongI2VPlan", vae=vae.out(0), width=64, height=48, frame_window_size=9, motion_frame=5,
                      mode="auto", colour_match=colour, colour_match_strength=1.0, output_folder="",
                      reference="start image", start_image=image.out(0))
        g.node("MTSTest_Capture", value=plan.out(0), key="plan")
        out[f"plan colour_match={colour}"] = g.finalize()
    for mode in ("auto diarization", "timeline"):
        g = graph()
        audio = g.node("LoadAudio", audio="conversation.wav")
        own = ({"mode.num_speakers": 0, "mode.min_gap_seconds": 0.5, "mode.voice_encoder": "auto",
                "mode.detect_overlap": True} if mode == "auto diarization" else {"mode.timeline": "1: 0-1\n2: 1-2"})
        split = g.node("MTS_AudioToSpeakers", audio=audio.out(0), mode=mode, order="", fade_ms=20, **own)
        g.node("MTSTest_Capture", value=split.out(0), key="audio_1")
        out[f"speakers mode={mode}"] = g.finalize()
    return out


def object_info(root: str, workdir: str) -> None:
    from comfy_host import ComfyHost
    from workflow_api import host_object_info

    host = ComfyHost(Path(root), Path(workdir)).boot()
    print(json.dumps(host_object_info(host.node_mappings)))


def without(root: str, workdir: str, blocked: str) -> None:
    hide(blocked.split(","))
    import numpy as np
    import soundfile
    from comfy_host import ComfyHost

    host = ComfyHost(Path(root), Path(workdir)).boot()
    import host_models

    host_models.write_tiny_wan_vae(host.model_path("vae", "tiny_wan21_vae.safetensors"))
    t = np.arange(2 * 16000) / 16000
    soundfile.write(str(host.workdir / "input" / "conversation.wav"), 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    results = {}
    for name, prompt in prompts().items():
        result = host.run(prompt, expect_success=False)
        results[name] = {"success": result.success, "message": result.message()}
    print(json.dumps({"nodes": sorted(k for k in host.node_mappings if k.startswith("MTS_")),
                      "failed_imports": [r.getMessage() for r in host.logs.records if "could not load" in r.getMessage()],
                      "runs": results}))


def long_rss(root: str, workdir: str, prompt_file: str) -> None:
    """Run a long-video prompt (its sampler the observed one) in this fresh process: the peak RSS when window 2 is
    done and at the end, in bytes, the windows made and the videos saved."""
    import resource

    from comfy_host import ComfyHost

    host = ComfyHost(Path(root), Path(workdir)).boot()
    import host_test_nodes

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    seen = {"windows": 0}

    def observe(event, info):
        if event == "window_done":
            seen["windows"] += 1
            if info["window"].index == 1:
                seen["window_2"] = peak()

    host_test_nodes.RUNNER["observers"].append(observe)
    result = host.run(json.loads(Path(prompt_file).read_text()))
    saved = sum(len(ui.get("images", [])) for ui in result.ui_outputs.values())
    print(json.dumps(dict(seen, peak=peak(), saved=saved)))


def run(command: str, *args: str, timeout: float = 300) -> dict | list:
    """Run one command of this script with the test session's Python; its JSON answer."""
    import subprocess

    done = subprocess.run([sys.executable, __file__, command, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"other_host.py {command} {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.path[:0] = [str(HERE), str(HERE.parents[1])]  # the test helpers, and the pack (as pytest's pythonpath does)
    {"object-info": object_info, "without": without, "long-rss": long_rss}[sys.argv[1]](*sys.argv[2:])

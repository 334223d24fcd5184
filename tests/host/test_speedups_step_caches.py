"""The long-video sampler under the host's step caches, EasyCache and LazyCache: each window starts with a fresh
cache, a step the cache answers keeps the audio guidance (the pass without audio has its own cache entry), and a
cache that never skips gives exactly the frames without it. Graph: test_long_video.py (3 windows, text 1 /
audio 2: two passes a step)."""
from __future__ import annotations

import re

import pytest
import torch

from model_chain import recorded_passes, steps_by_window, through
from tests.host.test_long_video import OBSERVED, fps_for, hooked, long_graph

STEPS = 6


def cached_run(host, prompt, cache: str, threshold: float):
    """Run `prompt` with the cache node in front of the sampler: the captured outputs, the calc records of each
    window's steps, and the skipped steps the host reported for each window's sampling."""
    through(prompt, OBSERVED, cache, reuse_threshold=threshold, start_percent=0.0, end_percent=1.0,
            verbose=False)
    events = []
    with recorded_passes(events), hooked(lambda e, i: events.append((e, i))):
        result = host.run(prompt)
    reported = [int(n) for n in re.findall(rf"{cache} - skipped (\d+)/{STEPS} steps", result.log)]
    return result.captured, steps_by_window(events), reported


def graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, key, seed=21):
    return long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps_for(voices["male"], 15.5), seed=seed,
                      steps=STEPS, capture=key, observed=True)


@pytest.mark.parametrize("cache", ["EasyCache", "LazyCache"])
def test_cache_that_never_skips_gives_the_same_frames(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, cache):
    plain = host.run(graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, "plain" + cache)).captured
    cached, windows, reported = cached_run(host, graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, "cached" + cache),
                                           cache, 0.0)
    assert len(windows) == 3 and all(len(w) == STEPS and all(step for step in w) for w in windows)
    assert reported == [0, 0, 0]
    torch.testing.assert_close(cached["frames" + "cached" + cache], plain["frames" + "plain" + cache], rtol=0, atol=0)


def test_easycache_keeps_the_audio_guidance_on_skipped_steps(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    """On a skipped step EasyCache returns the step's input plus each pass's own last change; the guider's two
    predictions then differ by exactly the last computed difference, scaled by the sigma ratio (flow models:
    denoised = x - sigma * output). Passes sharing a cache entry would come out equal: no audio guidance."""
    _, windows, reported = cached_run(host, graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, "easy"), "EasyCache",
                                      3.0)
    skipped = []
    for steps in windows:
        records = [step[0] for step in steps]  # one calc per step: both passes batched
        assert not records[0]["skipped"] and not records[1]["skipped"]  # a fresh cache in every window
        last, skipped = None, skipped + [0]
        for record in records:
            cond, no_audio = record["out"]
            if record["skipped"]:
                skipped[-1] += 1
                expected = (record["sigma"] / last["sigma"]) * (last["out"][0] - last["out"][1])
                torch.testing.assert_close(cond - no_audio, expected, rtol=1e-4, atol=1e-6)
                assert (cond - no_audio).abs().max() > 1e-4
            else:
                last = record
    assert all(skipped)  # the cache did skip, in every window
    assert reported == skipped  # and each window's sampling had its own count: the cache state starts fresh


def test_lazycache_skips_whole_guided_steps_and_starts_fresh_each_window(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                        voices):
    """LazyCache answers the guider's whole prediction: a skipped step runs no pass at all, a computed one both."""
    _, windows, reported = cached_run(host, graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, "lazy"), "LazyCache",
                                      3.0)
    assert len(windows) == 3
    for steps in windows:
        assert len(steps) == STEPS
        assert steps[0] and steps[1]  # the first two steps of every window are computed: nothing carried over
        assert all(len(calc) == 0 or [len(r["out"]) for r in calc] == [2] for calc in steps)
        assert any(len(calc) == 0 for calc in steps)  # and the cache did skip
    # each window's sampling reports its own skips: the cache state starts fresh every window
    assert reported == [sum(len(calc) == 0 for calc in steps) for steps in windows]

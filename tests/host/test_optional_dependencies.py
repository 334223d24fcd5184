"""Without an optional dependency only its feature refuses: the real host, booted in a subprocess with kornia,
scikit-learn and webrtcvad hidden, still registers every node of the pack; colour matching and auto diarization
each refuse with an error naming the input that asked for them and the pip command; the rest runs."""
from __future__ import annotations

import other_host
import pytest

BLOCKED = "kornia,sklearn,webrtcvad"


@pytest.fixture(scope="module")
def without_optional(host, tmp_path_factory) -> dict:
    return other_host.run("without", str(host.root), str(tmp_path_factory.mktemp("blocked")), BLOCKED)


def test_every_node_registers_without_them(host, without_optional):
    ours = sorted(k for k in host.node_mappings if k.startswith("MTS_"))
    assert len(ours) >= 10 and without_optional["nodes"] == ours
    assert not without_optional["failed_imports"]


def test_colour_matching_alone_refuses_naming_its_input_and_kornia(without_optional):
    on, off = (without_optional["runs"][f"plan colour_match={c}"] for c in ("on", "off"))
    assert not on["success"] and on["message"].startswith("colour_match:"), on
    assert "pip install kornia" in on["message"]
    assert off["success"], off


def test_auto_diarization_alone_refuses_naming_mode_and_both_packages(without_optional):
    auto, timeline = (without_optional["runs"][f"speakers mode={m}"] for m in ("auto diarization", "timeline"))
    assert not auto["success"] and auto["message"].startswith("mode:"), auto
    assert "pip install scikit-learn webrtcvad-wheels" in auto["message"]
    assert timeline["success"], timeline

"""Optional dependencies refuse per feature (wan_multitalk/optional.py and its callers), with the module hidden
the way an uninstalled package looks: None in sys.modules."""
from __future__ import annotations

import sys

import pytest
import torch

from wan_multitalk.audio.diarization import check_auto_diarization
from wan_multitalk.errors import InputError
from wan_multitalk.optional import missing, require
from wan_multitalk.video.colour import check_colour_matching, match_colour


def hide(monkeypatch, *names):
    for name in names:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)


def test_missing_lists_only_what_cannot_be_imported(monkeypatch):
    hide(monkeypatch, "kornia")
    assert missing("kornia.color", "torch", "json") == ["kornia.color"]


def test_require_names_the_input_the_feature_and_the_pip_command(monkeypatch):
    hide(monkeypatch, "sklearn")
    with pytest.raises(InputError) as error:
        require({"sklearn": "scikit-learn", "torch": "torch"}, "mode", "auto diarization")
    assert error.value.input_name == "mode"
    assert "auto diarization needs scikit-learn," in str(error.value)
    assert "python -m pip install scikit-learn" in str(error.value) and "torch" not in error.value.fix


def test_colour_matching_without_kornia(monkeypatch):
    frames = torch.rand(2, 8, 8, 3)
    hide(monkeypatch, "kornia")
    with pytest.raises(InputError) as error:
        check_colour_matching("colour_match")
    assert error.value.input_name == "colour_match" and "pip install kornia" in str(error.value)
    with pytest.raises(InputError):
        match_colour(frames, frames[0], strength=1.0)
    assert match_colour(frames, frames[0], strength=0.0) is frames  # off needs nothing


@pytest.mark.parametrize("hidden,named,not_named", [("sklearn", "scikit-learn", "webrtcvad"),
                                                    ("webrtcvad", "webrtcvad-wheels", "scikit-learn")])
def test_auto_diarization_names_exactly_the_missing_package(monkeypatch, hidden, named, not_named):
    hide(monkeypatch, hidden)
    with pytest.raises(InputError) as error:
        check_auto_diarization("mode")
    assert error.value.input_name == "mode"
    assert f"pip install {named}" in error.value.fix and not_named not in error.value.fix

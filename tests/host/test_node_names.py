"""Node names a user with kijai's WanVideoWrapper installed too can tell apart, and find by the names they know."""
from __future__ import annotations

import pytest

from kijai_nodes import KIJAI
from workflow_api import host_object_info


@pytest.fixture(scope="module")
def info(host) -> dict:
    return host_object_info(host.node_mappings)


def test_no_display_name_equals_one_of_kijais_or_the_hosts(info):
    ours = {k: v["display_name"] for k, v in info.items() if k.startswith("MTS_")}
    taken = {name for name, _ in KIJAI.values()} | {v["display_name"] for k, v in info.items()
                                                    if not k.startswith("MTS") and v.get("display_name")}
    assert len(ours) == 10 and len(set(ours.values())) == 10, ours
    assert not set(ours.values()) & taken, sorted(set(ours.values()) & taken)


TWINS = ("Wav2VecModelLoader", "MultiTalkModelLoader", "MultiTalkWav2VecEmbeds", "MultiTalkSilentEmbeds",
         "WanVideoImageToVideoMultiTalk")  # kijai's nodes whose display names ours used to equal


@pytest.mark.parametrize("kijai", TWINS)
def test_the_familiar_words_stay(info, kijai):
    """Ours starts with kijai's name for the same job, and says at a glance that it is another one."""
    name, mine = KIJAI[kijai]
    assert info[mine]["display_name"] == f"{name} (Studio)", (kijai, info[mine]["display_name"])


def test_search_aliases_name_the_pack_and_kijais_nodes(info):
    for node, spec in info.items():
        if node.startswith("MTS_"):
            assert {"multitalk", "infinitetalk"} <= set(spec.get("search_aliases") or []), node
    for kijai, (_, mine) in KIJAI.items():
        assert kijai in (info[mine].get("search_aliases") or []), f"{mine} is not found by {kijai}"

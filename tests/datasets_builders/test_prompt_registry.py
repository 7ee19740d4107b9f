"""The prompt registry: our prompts, upstream prompts fetched at a pinned commit (a local mirror here), sha256."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sftbench.judges import prompt_registry as reg
from sftbench.judges.prompt_registry import (
    PromptError,
    fill,
    load_prompt,
    prompt_identity,
    python_strings,
)

# A stand-in for an upstream script that keeps its prompts in code (the shape of refine_responses.py).
UPSTREAM_LIKE = '''
import json

def gen_prompt_no_input(ins, outp):
    sys_prompt = "You check answers."
    prompt_template = "[Q]\\n{ins}\\n\\n[A]\\n{outp}\\n\\n{criteria}\\n"
    criteria = "Say why it is weak. " + \\
               "Then write [Better Answer] ... [End]."
    return sys_prompt, prompt_template.format(ins=ins, outp=outp, criteria=criteria)

def gen_prompt_input(ins, inp, outp):
    sys_prompt = "You check answers and inputs."
    prompt_template = "[Q]\\n{ins}\\n[In]\\n{inp}\\n[A]\\n{outp}\\n{criteria}"
    criteria = "Input-aware critique."
    return sys_prompt, prompt_template

if __name__ == "__main__":
    system_prompt = "Rate it."
    user_prompt = "Score 0-5 on the first line."
    for row in []:
        triplet = ("###Instruction:\\n{instruction}\\n\\n### Input:\\n{input}\\n\\n"
                   "### Response:\\n{output}\\n\\n").format_map(row)
'''


def test_every_ours_prompt_loads_and_every_entry_is_pinned():
    for name, spec in reg.REGISTRY.items():
        if spec.kind == "ours":
            loaded = load_prompt(name)
            assert loaded.parts and loaded.sha256 == prompt_identity(name)
        else:
            assert len(spec.commit) == 40 and spec.url.startswith("https://raw.githubusercontent.com/" + spec.repo)
            assert spec.identity == (spec.sha256 or f"github:{spec.repo}@{spec.commit}:{spec.file}")
    turns = load_prompt("ours_skillmix_conversation").turns
    assert len(turns) == 5 and "{skills_str}" in turns[0] and "### Instruction:" in turns[3]


def test_python_prompts_are_read_from_source_without_running_it():
    strings = python_strings(UPSTREAM_LIKE)
    assert strings["gen_prompt_no_input.criteria"] == "Say why it is weak. Then write [Better Answer] ... [End]."
    assert strings["gen_prompt_input.sys_prompt"] == "You check answers and inputs."
    assert strings["system_prompt"] == "Rate it."
    assert strings["<format_map>"].startswith("###Instruction:\n{instruction}")
    assert fill("{ins} {x} {}", ins="a") == "a {x} {}"


def test_upstream_prompt_is_downloaded_at_its_commit_verified_and_cached(mirror, monkeypatch):
    spec = reg.REGISTRY["skillmix_junk"]
    body = json.dumps(["Greetings: \"{instruction}\" answer badly."]).encode()
    monkeypatch.setitem(reg.REGISTRY, spec.name, reg.PromptSource(
        spec.name, "upstream", spec.description, spec.file, spec.repo, spec.commit, hashlib.sha256(body).hexdigest(),
        extract="json_list"))
    served = mirror / spec.repo / spec.commit / spec.file
    served.parent.mkdir(parents=True)
    served.write_bytes(body)
    loaded = load_prompt("skillmix_junk")
    assert loaded.turns == ["Greetings: \"{instruction}\" answer badly."] and loaded.source.startswith("http://")
    assert loaded.card()["commit"] == spec.commit
    served.write_bytes(b"changed upstream")          # the cache answers now, and it is verified
    again = load_prompt("skillmix_junk")
    assert again.turns == loaded.turns and "pinned" in again.source
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")        # offline with the cache: still fine
    assert load_prompt("skillmix_junk").sha256 == loaded.sha256


def test_a_corrupted_download_or_local_copy_is_rejected_with_the_reason(mirror, tmp_path, monkeypatch):
    spec = reg.REGISTRY["skillmix_brevity"]  # pinned by sha256
    served = mirror / spec.repo / spec.commit / spec.file
    served.parent.mkdir(parents=True)
    served.write_bytes(b'["not the pinned file"]')
    with pytest.raises(PromptError, match=f"does not match the pinned {spec.sha256}"):
        load_prompt("skillmix_brevity")
    local = tmp_path / "brevity.json"
    local.write_bytes(b'["also not it"]')
    with pytest.raises(PromptError, match=f"{local}: sha256 .* does not match the pinned"):
        load_prompt("skillmix_brevity", local_copy=local)
    monkeypatch.setenv("SFTBENCH_OFFLINE", "1")
    with pytest.raises(PromptError, match="offline .* is not cached"):
        load_prompt("skillmix_gpt4")


def unpin(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Drop the sha256 pin of an upstream prompt, so a test can feed the parser an upstream-shaped stand-in (the
    real files are not ours to ship); the pins themselves are tested by the corrupted-copy tests."""
    import dataclasses
    monkeypatch.setitem(reg.REGISTRY, name, dataclasses.replace(reg.REGISTRY[name], sha256=None))


def test_every_papers_prompt_is_pinned_by_commit_and_sha256():
    upstream = [s for s in reg.REGISTRY.values() if s.kind == "upstream"]
    assert len(upstream) == 6
    for spec in upstream:
        assert re.fullmatch(r"[0-9a-f]{40}", spec.commit) and re.fullmatch(r"[0-9a-f]{64}", spec.sha256 or ""), spec
        assert spec.identity == spec.sha256


def test_a_pinned_python_prompt_rejects_a_local_copy_that_is_not_the_pinned_file(tmp_path):
    copy = tmp_path / "chatgpt_rating.py"
    copy.write_text(UPSTREAM_LIKE)
    with pytest.raises(PromptError, match=f"{copy}: sha256 .* does not match the pinned"):
        load_prompt("alpagasus_rating", local_copy=copy)


def test_an_unpinned_upstream_python_prompt_from_a_local_copy_and_custom_files(tmp_path, monkeypatch):
    unpin(monkeypatch, "long_is_more_refine")
    copy = tmp_path / "refine_responses.py"
    copy.write_text(UPSTREAM_LIKE)
    loaded = load_prompt("long_is_more_refine", local_copy=copy)
    assert loaded.parts["no_input_sys_prompt"] == "You check answers."
    assert loaded.parts["input_criteria"] == "Input-aware critique."
    copy.write_text("x = 1\n")
    with pytest.raises(PromptError, match="prompt strings .* not found"):
        load_prompt("long_is_more_refine", local_copy=copy)
    custom = tmp_path / "mine.json"
    custom.write_text('["turn one {skills_str}", "turn two"]')
    assert load_prompt(custom).turns == ["turn one {skills_str}", "turn two"]
    assert prompt_identity(custom) == hashlib.sha256(custom.read_bytes()).hexdigest()
    custom.write_text('{"not": "a list"}')
    with pytest.raises(PromptError, match="JSON list of prompt strings"):
        load_prompt(custom)
    with pytest.raises(PromptError, match="unknown prompt 'nope'"):
        load_prompt("nope")


def test_registry_prompt_files_of_ours_are_in_the_package():
    for spec in reg.REGISTRY.values():
        if spec.kind == "ours":
            assert (Path(reg.PROMPTS_DIR) / spec.file).is_file(), spec.file

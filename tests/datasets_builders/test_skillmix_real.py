"""Instruct-SkillMix: upstream parse rules on the released rows, released lists, conversation builds on LLM roles."""

from __future__ import annotations

import collections
import json
import re

import pytest
from sftbench.datasets_builders.builders import skillmix
from sftbench.datasets_builders.builders.base import BuildContext
from sftbench.datasets_builders.formats import load_rows
from sftbench.datasets_builders.skillmix_gen import parse, plan_upstream
from sftbench.datasets_builders.skillmix_lists import load_released
from sftbench.judges.prompt_registry import PromptError

from tests.conftest import shared_data
from tests.datasets_builders.conftest import corrupt_copy

ISM = "instruct_skillmix/datasets/"
GPT4 = "gpt-4-turbo-2024-04-09"


def released_rows():
    return (load_rows(shared_data(ISM + "ism_sda_k2_1000.json.gz")).rows
            + load_rows(shared_data(ISM + "ism_sda_heldout_k2_100.json")).rows)


def test_the_parser_reproduces_every_released_row_from_teacher_turns():
    """Turns written the way the conversation asks (generate, fix, critique, refine, rewrite)."""
    rows = released_rows()
    first = "### Task Type: {q}\n### Skills: {s}\n### Instruction: {i}\n### Response: draft"
    for style in ("plain", "refined"):
        for r in rows:
            turns = [first.format(q=r["meta"]["query_type"], s=r["meta"]["skills_joined_str"], i=r["instruction"]),
                     "Here is the full example again.", "Strengths: ... Weaknesses: ...",
                     f"### Instruction: {r['instruction']}\n### Response: {r['output']}" if style == "plain" else
                     f"### Refined Instruction: \"{r['instruction']}\"\n### Refined Response: {r['output']}",
                     r["output"] if style == "plain" else f"### Response: {r['output']}"]
            assert parse(turns, "gpt") == (r["instruction"], r["output"])
    claude_ok = [r for r in rows if "###" not in r["output"]]  # upstream's Claude rule splits on '###'
    for r in claude_ok:
        turns = ["...", "critique", f"### Instruction: {r['instruction']}\n### Response: {r['output']}"]
        assert parse(turns, "claude") == (r["instruction"], r["output"])
    assert len(rows) == 1100 and len(claude_ok) == 1073


def test_released_lists_verify_and_parse_as_upstream(tmp_path, mirror):
    skills, queries, info = load_released(GPT4, shared_data(ISM + GPT4 + "/skills.txt"),
                                          shared_data(ISM + GPT4 + "/queries.txt"))
    assert len(skills) == 1143 and len(queries) == 16 and queries[0].query_str == "Information-Seeking"
    assert queries[0].query_type.startswith("Information-Seeking: This includes any query")
    bad = corrupt_copy(shared_data(ISM + GPT4 + "/skills.txt"), tmp_path / "skills.txt", b"public_speaking", b"x")
    with pytest.raises(PromptError, match=r"skills\.txt: sha256 .* does not match the pinned 913e34d7"):
        load_released(GPT4, bad, shared_data(ISM + GPT4 + "/queries.txt"))
    claude = "claude-3-5-sonnet-20240620"
    for kind in ("skills", "queries"):  # the download path, from a local mirror of raw GitHub
        served = mirror / "princeton-pli/Instruct-SkillMix" / "04e130ea37a3b365d531a1076a1afe1cb91b68df" / \
            f"datasets/{claude}/{kind}.txt"
        served.parent.mkdir(parents=True, exist_ok=True)
        served.write_bytes(shared_data(f"{ISM}{claude}/{kind}.txt").read_bytes())
    skills, queries, info = load_released(claude)
    assert len(skills) == 3266 and len(queries) == 13 and info["skills"]["source"].startswith("http://")
    assert queries[0].query_type.startswith("Information-seeking: Queries aimed at")  # 'Definition:' label skipped


def test_upstream_plan_balances_query_types_and_is_seeded():
    skills, queries, _ = load_released(GPT4, shared_data(ISM + GPT4 + "/skills.txt"),
                                       shared_data(ISM + GPT4 + "/queries.txt"))
    plan = plan_upstream(skills, queries, 1000, 2, seed=42)
    counts = collections.Counter(q.query_str for _, q in plan)
    assert len(counts) == 16 and sum(counts.values()) == 1000 and min(counts.values()) >= 40
    assert max(counts.values()) == 64  # 16 types doubled to 1,024 slots, shuffled, cut to 1,000
    assert plan == plan_upstream(skills, queries, 1000, 2, seed=42) != plan_upstream(skills, queries, 1000, 2, 1)
    assert all(len(s) == 2 for s, _ in plan)


def conversation_teacher(fail_first: str = "skill_3", never: str = "skill_5"):
    """Answers each turn of the 5-turn conversation. Examples with `fail_first` lack a response until their last
    turn is asked again (a re-ask has a new seed); examples with `never` never get one."""
    def respond(messages, body):
        users = [m for m in messages if m["role"] == "user"]
        s = re.search(r"### Skills: (.*)", users[0]["content"])
        skills, turn = (s.group(1) if s else ""), len(users)
        if turn == 1 and "lazy assistant" in users[0]["content"]:
            return '"Well, it depends on many things, really."'
        if turn == 1 and "single paragraph" in users[0]["content"]:
            return "One short paragraph."
        broken = never in skills.split(", ") or (fail_first in skills.split(", ") and body["seed"] < 7919)
        if turn == 1:
            return f"### Task Type: t\n### Skills: {skills}\n### Instruction: Draft on {skills}?\n### Response: Draft."
        if turn == 4:
            head = f"### Instruction: How do {skills} combine?"
            cut = fail_first in skills.split(", ") or never in skills.split(", ")
            return head if cut else head + "\n### Response: X"
        if turn == 5:
            return "Response pending" if broken else f"Final answer combining {skills} with concrete examples."
        return "Noted."
    return respond


def test_a_20_example_conversation_build_on_a_local_server(tmp_path, llm_role):
    teacher, server = llm_role("teacher", conversation_teacher(), cache=tmp_path / "llm.sqlite", max_tokens=64)
    ctx = BuildContext(seed=0, teacher=teacher, skills=[f"skill_{i}" for i in range(12)], query_types=["qa", "plan"])
    params = skillmix.Params(n=20, conversation="ours_skillmix_conversation", heldout=4, regenerate=2)
    out = skillmix.build([], params, ctx)
    failed = out.info["failures"]
    assert len(out.rows) + len(failed) == 20 and failed and all("skill_5" in f["meta"]["skills"] for f in failed)
    regenerated = [r for r in out.rows if r["meta"]["regenerated"]]
    assert regenerated and all(r["meta"]["regenerated"] == 1 and "skill_3" in r["meta"]["skills"] for r in regenerated)
    assert not any("skill_3" in r["meta"]["skills"] for r in out.rows if not r["meta"]["regenerated"])
    assert all(r["output"].startswith("Final answer combining") and r["instruction"].startswith("How do")
               for r in out.rows)
    assert out.info["rows_dropped"] == ({"unparseable_after_regeneration": len(failed)} if failed else {})
    assert out.info["turns"] == 5 and out.info["parse_rule"] == "gpt" and out.info["llm"]["calls"] == server.billable
    train_sets = {frozenset(r["meta"]["skills"]) for r in out.rows} | {frozenset(f["meta"]["skills"]) for f in failed}
    held = out.sidecars["heldout"]
    assert 0 < len(held) <= 4 and not train_sets & {frozenset(r["meta"]["skills"]) for r in held}
    requests = server.billable
    again = skillmix.build([], params, ctx)  # a re-run asks nothing new: every turn is in the response cache
    assert again.rows == out.rows and server.billable == requests
    assert again.info["llm"]["cached_calls"] == again.info["llm"]["calls"]


def test_shirker_and_brevity_variants_rewrite_outputs(llm_role):
    teacher, server = llm_role("teacher", conversation_teacher(never="none"), max_tokens=64)
    ctx = BuildContext(seed=1, teacher=teacher, skills=[f"skill_{i}" for i in range(12)], query_types=["qa"])
    base = dict(n=20, conversation="ours_skillmix_conversation")
    shirk = skillmix.build([], skillmix.Params(**base, variant="shirker", shirker_prompt="ours_skillmix_shirker"), ctx)
    junk = [r for r in shirk.rows if r["meta"].get("rewritten")]
    assert len(shirk.rows) == 20 and shirk.info["rows_rewritten"] == 4 and junk == shirk.rows[:4]
    assert all(r["output"] == "Well, it depends on many things, really." for r in junk)  # quotes removed
    brief = skillmix.build([], skillmix.Params(**base, variant="brevity", brevity_prompt="ours_skillmix_brevity"), ctx)
    assert {r["output"] for r in brief.rows} == {"One short paragraph."}
    assert set(brief.info["prompts"]) == {"conversation", "brevity"}


def test_stage_a_sda_and_sdd_with_the_teacher(llm_role):
    def respond(messages, body):
        text = messages[-1]["content"]
        if "kinds of requests" in text:
            return "### 1. **Asking**\nWants facts.\n### 2. **Planning**\nWants a plan."
        if "Name the" in text:
            return "- data_analysis\n- Persuasive Writing\n- not a skill!"
        return "\n".join(f"{i}. skill_{i + body['seed']}" for i in range(5))
    teacher, _ = llm_role("teacher", respond)
    ctx = BuildContext(seed=0, teacher=teacher)
    from sftbench.datasets_builders.llm_calls import LLMCalls
    from sftbench.datasets_builders.skillmix_lists import extract_sda, extract_sdd
    calls = LLMCalls(teacher, "teacher", "skillmix", "test")
    skills, queries, info = extract_sda(calls, 8, 2, seed=0)
    assert len(skills) == 8 and [q.query_str for q in queries] == ["Asking", "Planning"] and info["extracted"] == "sda"
    pool = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(5)]
    skills, _, info = extract_sdd(calls, pool, 3, 2, seed=0)
    assert skills == ["data_analysis", "persuasive_writing"] and info["seed_rows"] == 3
    out = skillmix.build(pool, skillmix.Params(n=3, skills_from="sdd", sdd_rows=3, query_types=2), ctx)
    assert out.info["lists"]["extracted"] == "sdd" and out.info["skills_offered"] == 2
    assert skillmix.prompts(skillmix.Params(skills_from="sda")) == ["ours_skillmix_sda_skills",
                                                                  "ours_skillmix_sda_queries"]


def test_the_world_teacher_cannot_run_a_conversation():
    from sftbench.datasets_builders import world
    ctx = BuildContext(teacher=world.WorldTeacher(), skills=world.SKILL_NAMES, query_types=world.QUERY_TYPES)
    with pytest.raises(ValueError, match="needs an LLM teacher"):
        skillmix.build([], skillmix.Params(n=2, conversation="ours_skillmix_conversation"), ctx)
    assert len(skillmix.build([], skillmix.Params(n=5), ctx).rows) == 5


@pytest.mark.slow
@pytest.mark.long  # the same prompts reach SmolLM2 through llama.cpp in tests/datasets_builders/test_ablations.py
def test_a_20_example_conversation_build_on_the_in_process_smollm2(tmp_path):
    from sftbench.judges.llm import LLMRoleConfig, make_llm_role
    teacher = make_llm_role("teacher", LLMRoleConfig(provider="local", model_path="smollm2", max_tokens=3, threads=1))
    turns = tmp_path / "two_turns.json"
    turns.write_text(json.dumps(["Write a question that needs {skills_str}, as: ### Instruction: <question>",
                                 "Now answer it, as: ### Instruction: <question> ### Response: <answer>"]))
    ctx = BuildContext(seed=0, teacher=teacher, skills=["cooking", "budgeting", "history", "poetry"],
                       query_types=["Help-Seeking"])
    out = skillmix.build([], skillmix.Params(n=20, conversation=str(turns), parse_rule="claude", regenerate=0), ctx)
    assert out.info["llm"]["calls"] == 40 and out.info["turns"] == 2
    assert len(out.rows) + out.info["rows_dropped"].get("unparseable_after_regeneration", 0) == 20
    assert all(r["instruction"].strip() and r["output"].strip() for r in out.rows)

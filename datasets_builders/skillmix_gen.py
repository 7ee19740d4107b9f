"""Instruct-SkillMix stage B: what to ask for, the teacher conversation, upstream's parse rules, rewrites.

- `plan_upstream`: upstream's sampling (numpy's legacy generator, seeded): each example shuffles the skill list
  and takes the first k; the query-type list is doubled until it covers n, shuffled and cut to n (so types are
  balanced up to the cut); each example's skills are shuffled once more before they are joined.
- `converse`: the multi-turn conversation (generate / fix truncation / critique / refine / rewrite): every turn of
  the prompt file is a user message filled with {num_skills}, {skills_str}, {query_str}, {query_type}; the teacher
  answers each in turn with the whole conversation so far ('### Query:' is read as '### Instruction:', as upstream).
  An example that fails to parse has its last turn asked again (new seed), up to `regenerate` times.
- `parse_gpt` / `parse_claude`: upstream's extract_relevant_info_gpt / _claude, rule for rule.
- `rewrite_outputs`: the shirker ablation (unhelpful answers) and the brevity variant (one paragraph): one request
  per row with the instruction; the answer replaces the output, wrapping quotes removed (as upstream).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sftbench.datasets_builders.llm_calls import LLMCalls
from sftbench.common.rows import Row
from sftbench.datasets_builders.skillmix_lists import QueryType
from sftbench.judges.prompt_registry import LoadedPrompt, fill

PARSER_VERSIONS = {"gpt": "ism-extract-gpt-v1", "claude": "ism-extract-claude-v1"}


def plan_upstream(skills: Sequence[str], query_types: Sequence[QueryType], n: int, k: int,
                  seed: int) -> list[tuple[list[str], QueryType]]:
    if len(skills) < k:
        raise ValueError(f"skillmix needs at least k={k} skills, got {len(skills)}; lower params.k or offer more "
                         "skills")
    if not query_types:
        raise ValueError("skillmix needs at least one query type")
    rng = np.random.RandomState(seed)
    pool = list(skills)
    combos = []
    for _ in range(n):
        rng.shuffle(pool)
        combos.append(pool[:k])
    types = list(query_types)
    while len(types) < n:
        types += types
    rng.shuffle(types)
    plan = []
    for combo, qtype in zip(combos, types[:n]):
        combo = list(combo)
        rng.shuffle(combo)
        plan.append((combo, qtype))
    return plan


def _after(text: str, sep: str) -> str:
    parts = text.split(sep)
    if len(parts) < 2:
        raise ValueError(f"no {sep!r}")
    return parts[1]


def parse_gpt(outputs: Sequence[str], idx: int = 3) -> tuple[str, str]:
    """Instruction from turn idx (else idx+1), response from turn idx+1 (else idx); raises ValueError if neither."""
    def response_of(text: str) -> str:
        return text if "Instruction" not in text and "Response" not in text else _after(text, "Response:").strip()

    def instruction_of(text: str) -> str:
        head = text.split("Response")[0]
        return _after(head, "Instruction:").replace("### Refined", "").replace("###", "").strip()
    response = instruction = None
    for i in (idx + 1, idx):
        try:
            response = response_of(outputs[i])
            break
        except (IndexError, ValueError):
            continue
    for i in (idx, idx + 1):
        try:
            instruction = instruction_of(outputs[i])
            break
        except (IndexError, ValueError):
            continue
    if not instruction or response is None:
        raise ValueError("no instruction" if not instruction else "no response")
    if instruction[0] == '"' and instruction[-1] == '"':
        instruction = instruction[1:-1]
    return instruction, response


def _claude_instruction(output: str) -> str | None:
    chunks = output.split("###")[1:]
    for label in ("instruction:", "query:"):
        for chunk in chunks:
            if "response:" in chunk.lower():
                break
            if label in chunk.lower():
                title = label.capitalize()
                if title in chunk:
                    return chunk.split(title)[1].strip()
                if label == "instruction:":  # upstream's fallback splits on a misspelling and fails: so do we
                    raise ValueError("instruction label not written 'Instruction:'")
                return chunk.split(label)[1].strip()
    return None


def _claude_response(output: str) -> str | None:
    for chunk in output.split("###")[1:]:
        if "response:" in chunk.lower():
            return (chunk.split("Response:")[1] if "Response:" in chunk else chunk.split("response:")[1]).strip()
    return None


def parse_claude(outputs: Sequence[str]) -> tuple[str, str]:
    """Instruction and response from the last turn, else up to two turns back ('### Query:' also counts)."""
    last = len(outputs) - 1
    instruction = next((x for i in range(last, last - 3, -1) if i >= 0
                        for x in [_claude_instruction(outputs[i])] if x is not None), None)
    response = next((x for i in range(last, last - 3, -1) if i >= 0
                     for x in [_claude_response(outputs[i])] if x is not None), None)
    if instruction is None or response is None:
        raise ValueError("no instruction" if instruction is None else "no response")
    return instruction, response


def parse(outputs: Sequence[str], rule: str) -> tuple[str, str]:
    instruction, response = parse_gpt(outputs) if rule == "gpt" else parse_claude(outputs)
    if not instruction.strip() or not response.strip():
        raise ValueError("empty instruction or response")
    return instruction, response


def _fields(skills: Sequence[str], qtype: QueryType) -> dict[str, Any]:
    return {"num_skills": len(skills), "skills_str": ", ".join(skills), "query_str": qtype.query_str,
            "query_type": qtype.query_type}


async def converse(calls: LLMCalls, prompt: LoadedPrompt, skills: Sequence[str], qtype: QueryType, seed: int,
                   rule: str, regenerate: int, system: str | None = None,
                   **decoding: Any) -> tuple[Row | None, dict[str, Any]]:
    """One example: (row or None when it never parsed, record with every turn's answer and the failure reason)."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    outputs: list[str] = []
    fields = _fields(skills, qtype)
    for turn in prompt.turns:
        messages.append({"role": "user", "content": fill(turn, **fields)})
        response = await calls.ask(calls.request(messages, seed=seed, **decoding))
        outputs.append(response.text.replace("### Query:", "### Instruction:"))
        messages.append({"role": "assistant", "content": outputs[-1]})
    meta = {"skills": list(skills), "skills_joined_str": fields["skills_str"], "query_str": qtype.query_str,
            "seed": seed, "source": "skillmix-conversation"}
    reason = ""
    for attempt in range(regenerate + 1):
        try:
            instruction, output = parse(outputs, rule)
            return {"instruction": instruction, "input": "", "output": output,
                    "meta": {**meta, "regenerated": attempt}}, {"outputs": outputs}
        except ValueError as exc:
            reason = str(exc)
        if attempt < regenerate:  # ask the last turn again (upstream pops the final output and re-runs)
            again = calls.request(messages[:-1], seed=seed + 7919 * (attempt + 1), **decoding)
            outputs[-1] = (await calls.ask(again)).text.replace("### Query:", "### Instruction:")
            messages[-1] = {"role": "assistant", "content": outputs[-1]}
    return None, {"outputs": outputs, "failed": reason, "meta": meta}


def rewrite_outputs(rows: Sequence[Row], indices: Sequence[int], calls: LLMCalls, prompt: LoadedPrompt, seed: int,
                    progress: bool, **decoding: Any) -> list[Row]:
    """Rows with the outputs at `indices` replaced by the teacher's answer to `prompt` filled with the instruction."""
    template = prompt.turns[0] if "0" in prompt.parts else prompt.parts["text"]

    async def one(row: Row) -> str:
        message = {"role": "user", "content": fill(template, instruction=row["instruction"])}
        text = (await calls.ask(calls.request([message], seed=seed, **decoding))).text
        return text[1:-1] if len(text) > 1 and text[0] == '"' and text[-1] == '"' else text
    answers = calls.run([one(rows[i]) for i in indices], "rewrite", progress)
    out = list(rows)
    for i, answer in zip(indices, answers):
        out[i] = {**rows[i], "output": answer, "meta": {**rows[i].get("meta", {}), "rewritten": prompt.name}}
    return out


__all__ = ["plan_upstream", "parse_gpt", "parse_claude", "parse", "converse", "rewrite_outputs", "PARSER_VERSIONS"]

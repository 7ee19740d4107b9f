"""Long-Is-More's introspective refinement: an LLM critiques each response, then writes a better one.

With the paper's prompt (`long_is_more_refine`, read from upstream's refine_responses.py) the request is its system
prompt plus its template filled with the stripped instruction, input and output (the no-input or with-input
variant); with another prompt (ours: `ours_refine`, ChatML with {instruction}, {input}, {output}) it is that
template. The answer is parsed by upstream's `extract_segments`; when it does not give exactly one segment, or the
segment is empty, the original response is kept and counted (upstream's `none_count`). Upstream also cut responses
over 2,048 Llama-2 tokens before asking; that step is not reproduced.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from sftbench.datasets_builders.llm_calls import LLMCalls
from sftbench.common.rows import Row
from sftbench.judges.llm.prompts import PromptTemplate
from sftbench.judges.prompt_registry import LoadedPrompt, fill

PARSER_VERSION = "long-is-more-extract-segments-v1"


def extract_segments(text: str) -> list[str]:
    """Upstream's refine_responses_postprocess.extract_segments, rule for rule."""
    for label in ("Better Answer", "Revised Answer", "Improved Answer"):
        tag = f"[{label}]"
        if label == "Better Answer" and text.count(tag) >= 2:
            pattern = r"\[(Better Answer)\](.*?)(\[End\]|\[Better Answer\]|$)"
            return [seg[1].strip() for seg in re.findall(pattern, text, re.DOTALL)]
        if text.count(tag) == 1 and text.count("[End]") == 1:
            pattern = rf"\[({label})\](.*?)(\[End\]|End|$)"
            return [seg[1].strip() for seg in re.findall(pattern, text, re.DOTALL)]
    for label in ("Better Answer", "Revised Answer", "Improved Answer"):
        tag = f"[{label}]"
        if text.count(tag) == 1 and text.count("[End]") == 0:
            return [text.split(tag)[1].strip()]
    return [""]


def refine_messages(prompt: LoadedPrompt, row: Row) -> list[dict[str, str]]:
    instruction, extra, output = row["instruction"].strip(), (row.get("input") or "").strip(), row["output"].strip()
    if "no_input_sys_prompt" in prompt.parts:  # the paper's two variants
        key = "input" if extra else "no_input"
        user = fill(prompt.parts[f"{key}_prompt_template"], ins=instruction, inp=extra, outp=output,
                    criteria=prompt.parts[f"{key}_criteria"])
        return [{"role": "system", "content": prompt.parts[f"{key}_sys_prompt"]}, {"role": "user", "content": user}]
    template = PromptTemplate(prompt.parts["text"], prompt.source)
    return [dict(m) for m in template.render(instruction=instruction, input=extra or "(none)", output=output)]


def refine_rows(rows: Sequence[Row], calls: LLMCalls, prompt: LoadedPrompt, progress: bool = False,
                **decoding: Any) -> tuple[list[Row], dict[str, Any]]:
    """Rows with refined outputs (the original kept where the answer does not parse), and counts for the card."""
    async def one(row: Row) -> str:
        response = await calls.ask(calls.request(refine_messages(prompt, row), **decoding))
        segments = extract_segments(response.text)
        return segments[0] if len(segments) == 1 else ""
    better = calls.run([one(r) for r in rows], "refine", progress)
    out = [{**row, "output": b} if b else row for row, b in zip(rows, better)]
    kept = sum(not b for b in better)
    return out, {"refined": len(rows) - kept, "kept_original_unparseable": kept, "parser": PARSER_VERSION}


__all__ = ["extract_segments", "refine_messages", "refine_rows"]

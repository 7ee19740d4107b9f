"""SFT training data: rows -> token ids + a loss mask, ready for trl's SFTTrainer (which then builds labels).

Single-turn rows (one user/assistant exchange) are tokenized exactly as trl tokenizes a prompt-completion record:
the prompt and prompt + completion are tokenized separately and the loss starts where they diverge, so their
training data is the same as trl's own prompt-completion path. Multi-turn rows (`messages` with two or more
assistant turns, FastChat/LIMA style) become ONE sequence: the whole conversation rendered by the template's
`render_with_spans` (the renderer generation uses), tokenized in one call; the loss is on every assistant turn
(`response_prefix + content + stop`), found by character span through the fast tokenizer's offset mapping.
Sequences are cut at `max_length` (keep the start); a row with no loss token left is dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from sftbench.common.rows import prompt_text
from sftbench.suites.models.chat_templates import ChatTemplate

Example = dict[str, list[int]]  # {"input_ids": [...], "completion_mask": [0/1, ...]}


def to_prompt_completion(rows: Sequence[dict], template: ChatTemplate, system: str | None = None) -> list[dict]:
    """trl prompt-completion records: the prompt ends where the response starts; completion ends with stop."""
    records = []
    for row in rows:
        prompt, completion = template.render_example(prompt_text(row), row["output"].strip(), system)
        records.append({"prompt": prompt, "completion": completion})
    return records


def is_multi_turn(row: Mapping[str, Any]) -> bool:
    """A row whose `messages` hold two or more assistant turns (a single exchange trains as before)."""
    return sum(m.get("role") == "assistant" for m in row.get("messages") or ()) >= 2


def conversation(row: Mapping[str, Any], system: str | None = None) -> list[dict[str, str]]:
    """The messages of a multi-turn row, contents stripped (as the single-turn path strips its fields).

    The row's own system message wins; otherwise `system` (the recipe's), otherwise the template default.
    Trailing non-assistant turns are an error: they would be trained on nothing.
    """
    messages = [{"role": m["role"], "content": m["content"].strip()} for m in row["messages"]]
    if system is not None and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    if messages[-1]["role"] != "assistant":
        raise ValueError(f"row {row.get('id', '?')}: messages must end with an assistant turn "
                         f"(got {messages[-1]['role']!r})")
    return messages


def tokenize_prompt_completion(tokenizer: Any, prompt: str, completion: str) -> Example:
    """trl's prompt-completion tokenization: the completion starts where the two tokenizations diverge."""
    prompt_ids = tokenizer(text=prompt)["input_ids"]
    ids = tokenizer(text=prompt + completion)["input_ids"]
    n = 0
    while n < min(len(prompt_ids), len(ids)) and prompt_ids[n] == ids[n]:
        n += 1
    return {"input_ids": ids, "completion_mask": [0] * n + [1] * (len(ids) - n)}


def tokenize_conversation(tokenizer: Any, template: ChatTemplate, messages: Sequence[Mapping[str, str]]
                          ) -> tuple[Example, list[int]]:
    """The whole conversation in one tokenizer call; (example, assistant turn index per token or -1).

    A token is a loss token when its characters overlap an assistant span (a token straddling the boundary is
    in, as in trl's divergence rule); zero-width tokens (bos) count only when they sit inside a span.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"multi-turn SFT needs a fast tokenizer (offset mapping); {type(tokenizer).__name__} "
                         "is not one: load the base model's tokenizer.json, or drop `messages` from the rows")
    text, spans = template.render_with_spans(messages)
    encoded = tokenizer(text=text, return_offsets_mapping=True)
    turn_of: list[int] = []
    j = 0
    for a, b in encoded["offset_mapping"]:
        while j < len(spans) and spans[j][1] <= a:
            j += 1  # spans are sorted and disjoint; offsets are non-decreasing (bos: (0, 0))
        inside = j < len(spans) and (b > spans[j][0] if b > a else spans[j][0] <= a)  # overlaps span j
        turn_of.append(j if inside else -1)
    ids = list(encoded["input_ids"])
    return {"input_ids": ids, "completion_mask": [int(t >= 0) for t in turn_of]}, turn_of


@dataclass
class TrainData:
    """Tokenized examples plus what happened to the rows on the way."""

    examples: list[Example] = field(default_factory=list)
    dropped: list[Example] = field(default_factory=list)  # no loss token left (trl gets them if nothing else)
    rows: int = 0
    n_multi_turn: int = 0  # rows trained as one multi-turn sequence
    assistant_turns_trained: int = 0  # assistant turns with at least one loss token after truncation
    truncated: int = 0  # examples cut at max_length (kept: they still have loss tokens)
    dropped_truncated: int = 0  # rows dropped: truncation left no loss token

    def stats(self) -> dict[str, int]:
        return {"n_multi_turn": self.n_multi_turn, "assistant_turns_trained": self.assistant_turns_trained,
                "truncated_rows": self.truncated, "dropped_truncated": self.dropped_truncated}


def prepare_sft_data(rows: Sequence[dict], template: ChatTemplate, tokenizer: Any, system: str | None,
                     max_length: int | None) -> TrainData:
    """Tokenize every row (single-turn like trl, multi-turn as one sequence) and cut at `max_length`.

    `tokenizer` must already be configured as the trainer will use it (trl sets eos to `template.stop`).
    """
    data = TrainData(rows=len(rows))
    for row in rows:
        if is_multi_turn(row):
            data.n_multi_turn += 1
            example, turn_of = tokenize_conversation(tokenizer, template, conversation(row, system))
        else:
            [record] = to_prompt_completion([row], template, system)
            example = tokenize_prompt_completion(tokenizer, record["prompt"], record["completion"])
            turn_of = [0 if m else -1 for m in example["completion_mask"]]
        cut = max_length is not None and len(example["input_ids"]) > max_length
        if cut:
            example = {k: v[:max_length] for k, v in example.items()}
            turn_of = turn_of[:max_length]
        if not any(example["completion_mask"]):  # the first assistant turn was cut away: nothing to learn
            data.dropped_truncated += 1
            data.dropped.append(example)
            continue
        data.truncated += cut
        data.assistant_turns_trained += len({t for t in turn_of if t >= 0})
        data.examples.append(example)
    return data

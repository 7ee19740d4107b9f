"""An alpaca_eval annotator config run over sftbench's LLM clients: an exact port of its pairwise annotation.

Per example, as alpaca_eval 0.6.6's `PairwiseAnnotator` with batch size 1:

1. order: the two outputs are swapped when `random.Random("is_switched_outputs" + instruction + str(seed))
   .choices([False, True])` says so (RandomSwitchTwoColumnsProcessor; seed 0 is what the published annotations
   used, which the tests check against their raw completions);
2. prompt: alpaca_eval's own `utils.make_prompts` (each `{field}` replaced once, in order) and
   `utils.prompt_to_chatml` for ChatML templates, else one user message;
3. call: the config's decoding (for weighted_alpaca_eval_gpt4_turbo: max_tokens 1, temperature 1, logprobs,
   top_logprobs 5) on the suite's judge client (any OpenAI-compatible endpoint, local model, Anthropic for
   text-only configs), cached and costed by the client;
4. parse: alpaca_eval's own parser function from `alpaca_eval.completion_parsers` with the config's arguments,
   fed the completion the way alpaca_eval feeds it (`completions_all`: the chat-completion choice with its
   logprobs; `completions`: the text); for the logprob parser, preference = 2 - P('m') / (P('m') + P('M'));
5. the preference is mapped back (3 - p) when the outputs were swapped.

sftbench adds: an unparseable answer is asked again `parse_retries` times (the last message gets a one-line
reminder and the request a new seed; 0 retries = alpaca_eval's behaviour); one that stays unparseable is kept
as a tie (1.5) with `failed: true` and counted, never dropped; every record carries the judge fingerprint and
the judge-injection flags of the evaluated output.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any, Sequence

from sftbench.judges.alpaca_eval.configs import DEFAULT_ANNOTATOR, AnnotatorConfig, load_annotator_config
from sftbench.judges.injection import RULES_VERSION, flag_judge_injection
from sftbench.judges.llm.chat import ChatRequest, ChatResponse
from sftbench.judges.llm.engine import LLMClient, gather_with_progress, run_sync
from sftbench.judges.pairwise import FAILED_PREFERENCE

SWITCH_COLUMN = "is_switched_outputs"
REMINDER = "\n\n(Attempt {attempt}: answer strictly in the format asked for above.)"


def _alpaca_eval():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alpaca_eval imports pkg_resources and warns about it
        from alpaca_eval import completion_parsers, utils
    return utils, completion_parsers


def is_switched(instruction: str, seed: int = 0) -> bool:
    """alpaca_eval's random output order: True when output_1 (the baseline) is shown second."""
    return random.Random(SWITCH_COLUMN + instruction + str(seed)).choices([False, True], k=1)[0]


def render_messages(template: str, instruction: str, output_1: str, output_2: str) -> list[dict[str, str]]:
    """The judge's messages for one example, built by alpaca_eval's own prompt functions."""
    import pandas as pd
    utils, _ = _alpaca_eval()
    df = pd.DataFrame([{"instruction": instruction, "output_1": output_1, "output_2": output_2}])
    prompt = utils.make_prompts(df, template)[0][0]
    if prompt.strip().startswith("<|im_start|>"):
        return [{"role": m["role"], "content": m["content"]} for m in utils.prompt_to_chatml(prompt)]
    return [{"role": "user", "content": prompt}]


def completion_for_parser(response: ChatResponse, completion_key: str) -> Any:
    """The completion as alpaca_eval's parsers receive it from its OpenAI decoder."""
    text = response.text if response.text != "" else " "  # alpaca_eval: 'annoying doesn't allow empty string'
    if completion_key != "completions_all":
        return text
    choices = (response.raw or {}).get("choices") or [{}]
    choice = dict(choices[0])
    if not (choice.get("logprobs") or {}).get("content") and response.top_logprobs:
        choice["logprobs"] = {"content": [{"token": pos[0][0], "logprob": pos[0][1],
                                           "top_logprobs": [{"token": t, "logprob": lp} for t, lp in pos]}
                                          for pos in response.top_logprobs]}
    choice["text"] = text
    return choice


def parse_preference(config: AnnotatorConfig, response: ChatResponse) -> float:
    """alpaca_eval's parser for the config -> a preference in [1, 2] (its draws, 0, become 1.5); else ValueError."""
    _, parsers = _alpaca_eval()
    parser = getattr(parsers, config.parser, None)
    if parser is None:
        raise ValueError(f"alpaca_eval has no completion parser {config.parser!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = parser(completion_for_parser(response, config.completion_key), **config.parser_kwargs)
    except Exception as exc:  # noqa: BLE001 - alpaca_eval's parsers assert, index and raise freely
        raise ValueError(f"{config.parser} could not read the answer ({type(exc).__name__}: {exc})") from None
    value = values[0] if isinstance(values, (list, tuple)) and values else values
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{config.parser} returned {value!r}, not a preference") from None
    if math.isnan(value):
        raise ValueError(f"{config.parser} found no preference in the answer")
    if value == 0:
        return FAILED_PREFERENCE  # alpaca_eval's draw
    if not 1.0 <= value <= 2.0:
        raise ValueError(f"{config.parser} returned {value}, outside [1, 2]")
    return value


class AlpacaEvalAnnotator:
    """Pairwise AlpacaEval annotations (output_1 = baseline, output_2 = model; preference 2 = model better)."""

    def __init__(self, config: AnnotatorConfig, client: LLMClient, model: str, *, seed: int = 0,
                 parse_retries: int = 0, progress: bool = False) -> None:
        if config.decoding.get("logprobs") and client.provider_name == "anthropic":
            raise ValueError(f"alpaca_eval annotator {config.name!r} reads logprobs, which Anthropic's API does not "
                             "return: use an OpenAI-compatible judge or a text annotator config (e.g. chatgpt)")
        self.config, self.client, self.model, self.seed = config, client, model, seed
        self.parse_retries, self.progress = parse_retries, progress

    @classmethod
    def from_role_config(cls, cfg: Any, client: LLMClient, annotator: str = DEFAULT_ANNOTATOR, seed: int = 0,
                         progress: bool = False) -> "AlpacaEvalAnnotator":
        """For a judge LLMRoleConfig: its model (the annotator's decoding is the alpaca_eval config's)."""
        model = cfg.model or cfg.resolved("judge").model
        return cls(load_annotator_config(annotator), client, model, seed=seed, parse_retries=cfg.parse_retries,
                   progress=progress)

    @property
    def fingerprint(self) -> dict[str, Any]:
        return {"benchmark": "alpaca_eval", **self.config.describe(), "provider": self.client.provider_name,
                "model": self.client.reported_model or self.model, "configured_model": self.model,
                "order_seed": self.seed, "parse_retries": self.parse_retries, "injection_rules": RULES_VERSION}

    def _request(self, messages: list[dict[str, str]], attempt: int) -> ChatRequest:
        msgs = [dict(m) for m in messages]
        if attempt:
            msgs[-1]["content"] += REMINDER.format(attempt=attempt + 1)
        d = self.config.decoding
        return ChatRequest(messages=tuple(msgs), model=self.model, temperature=float(d.get("temperature", 0.0)),
                           max_tokens=int(d.get("max_tokens") or 1024), top_p=d.get("top_p"),
                           logprobs=bool(d.get("logprobs", False)), top_logprobs=d.get("top_logprobs"),
                           seed=attempt or None)

    async def _annotate_one(self, instruction: str, out_1: str, out_2: str) -> dict[str, Any]:
        switched = self.config.randomize_order and is_switched(instruction, self.seed)
        first, second = (out_2, out_1) if switched else (out_1, out_2)
        messages = render_messages(self.config.prompt_template, instruction, first, second)
        error, response = None, None
        for attempt in range(self.parse_retries + 1):
            response = await self.client.achat(self._request(messages, attempt))
            try:
                value = parse_preference(self.config, response)
                return {"value": 3.0 - value if switched else value, "response": response, "attempts": attempt + 1,
                        "error": None, "switched": switched}
            except ValueError as exc:
                error = str(exc)
        return {"value": None, "response": response, "attempts": self.parse_retries + 1, "error": error,
                "switched": switched}

    def annotate(self, instructions: Sequence[str], outputs_1: Sequence[str], outputs_2: Sequence[str], *,
                 generator_1: str, generator_2: str, datasets: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One record per example, in input order, in alpaca_eval's annotation format plus sftbench's fields."""
        if not len(instructions) == len(outputs_1) == len(outputs_2):
            raise ValueError(f"annotate: {len(instructions)} instructions, {len(outputs_1)} baseline outputs and "
                             f"{len(outputs_2)} model outputs; they must be aligned one to one")
        coros = [self._annotate_one(i, a, b) for i, a, b in zip(instructions, outputs_1, outputs_2)]
        results = run_sync(gather_with_progress(coros, self.progress, f"alpaca_eval {generator_2}"))
        for r in results:
            if isinstance(r, BaseException):
                raise r
        fingerprint = self.fingerprint
        records = []
        for k, (instruction, out_1, out_2, r) in enumerate(zip(instructions, outputs_1, outputs_2, results)):
            failed = r["value"] is None
            raw = completion_for_parser(r["response"], self.config.completion_key)
            records.append({
                "instruction": instruction, "output_1": out_1, "generator_1": generator_1,
                "dataset": datasets[k] if datasets is not None else "", "output_2": out_2, "generator_2": generator_2,
                "annotator": self.config.name, "preference": FAILED_PREFERENCE if failed else r["value"],
                "raw_completion": raw, SWITCH_COLUMN: r["switched"], "failed": failed, "attempts": r["attempts"],
                "parse_error": r["error"], "judge_injection": flag_judge_injection(out_2),
                "judge_fingerprint": fingerprint})
        return records


__all__ = ["AlpacaEvalAnnotator", "is_switched", "render_messages", "completion_for_parser", "parse_preference",
           "FAILED_PREFERENCE"]

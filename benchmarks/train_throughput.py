"""SFT training throughput: sftbench's settings side by side with trl's defaults (padded batches), same run.

    python benchmarks/train_throughput.py                    # CPU, tiny model (re-measurable anywhere)
    python benchmarks/train_throughput.py --gpu --shape llama-3.2-1b --seq 2048
    python benchmarks/train_throughput.py --gpu --shape llama-3-8b --seq 2048 --lora

Models are random-initialised with the named shape (no download). Rows are synthetic instruction/response
pairs with a long-tailed length distribution (like Alpaca's). tokens/s counts real (non-pad) tokens; MFU is
model FLOPs (6 N per token for full fine-tuning, 4 N for LoRA, plus attention) over the peak matmul
throughput measured on this device in the same run (bf16 on GPU, fp32 on CPU).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = ("fox owl otter heron badger lynx river mill forest hill berries fish seeds beetles winter sleeps eats "
         "lives near the a and in of to is it every morning north old pine").split()


def synthetic_rows(n: int, mean_words: int, max_words: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        length = min(max_words, max(4, int(rng.lognormvariate(0, 0.9) * mean_words)))
        prompt = " ".join(rng.choice(WORDS) for _ in range(max(3, length // 4)))
        rows.append({"instruction": prompt, "input": "", "output": " ".join(rng.choice(WORDS) for _ in range(length))})
    return rows


def peak_flops(device: str, dtype: object, size: int) -> float:
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    reps, start = 10 if device == "cuda" else 3, time.perf_counter()
    for _ in range(reps):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * reps / (time.perf_counter() - start)


def model_flops_per_token(config: object, seq: int, lora: bool) -> float:
    h, layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    kv = config.num_key_value_heads * (h // config.num_attention_heads)
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * inter  # q,o + k,v + gate/up/down
    n = layers * per_layer + config.vocab_size * h  # LM head (embedding lookups are free)
    attention = 2 * 2 * layers * seq * h  # QK^T and AV, causal average ~ seq/2 keys, fwd
    return (4 if lora else 6) * n + 3 * attention


def run_config(name: str, base: Path, rows: list[dict], update: dict, epochs: float, out: Path) -> dict:
    import torch

    from sftbench.suites.models.chat_templates import get_template
    from sftbench.suites.models.train import Recipe, build_sft_trainer

    recipe = Recipe.model_validate({"epochs": epochs, "lr": 1e-4, "max_length": update.pop("max_length"),
                                    "warmup_ratio": 0.0, **update})
    trainer = build_sft_trainer(base, rows, recipe, get_template("chatml"), out)
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"]) * epochs
    seqs = len(trainer.train_dataset)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = trainer.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    mem = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
    del trainer
    return {"config": name, "steps": result.global_step, "sequences": seqs, "tokens": int(tokens), "wall_s": wall,
            "tokens_per_s": tokens / wall, "loss": result.training_loss, "peak_mem_gib": mem}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="GPU scale: real model shapes, bf16, seq 2048")
    parser.add_argument("--shape", default=None, help="tiny | llama-3.2-1b | llama-3-8b (default: tiny on CPU)")
    parser.add_argument("--seq", type=int, default=None, help="max sequence length (default 256 CPU, 2048 GPU)")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None, help="per-device batch")
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    from sftbench.suites.models.base_models import LLAMA_SHAPES, random_init
    from sftbench.suites.models.tokenizer_train import train_tokenizer
    from sftbench.suites.models.torch_setup import hf_offline, quiet_hf, setup_torch

    setup_torch(args.threads, 0)
    shape = args.shape or ("llama-3.2-1b" if args.gpu else "tiny")
    seq = args.seq or (2048 if args.gpu else 256)
    n_rows = args.rows or (512 if args.gpu else 96)
    batch = args.batch or (8 if args.gpu else 8)
    rows = synthetic_rows(n_rows, mean_words=seq // 6, max_words=seq)
    finetune = {"finetune": "lora", "lora": {"r": 16, "alpha": 32, "dropout": 0.0}} if args.lora else {}
    common = {"max_length": seq, "batch_size": batch, "precision": "auto", **finetune}
    configs = [
        ("trl defaults (padded, random order, grad ckpt, fused loss)",
         {**common, "sampling": "random", "fused_loss": True, "gradient_checkpointing": True}),
        ("sftbench padded (group_by_length)", {**common, "sampling": "group_by_length"}),
        ("sftbench packed (padding-free)", {**common, "batching": "packed"}),
    ]
    if args.gpu:
        configs.append(("sftbench packed + grad ckpt", {**common, "batching": "packed",
                                                         "gradient_checkpointing": True}))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    peak = peak_flops(device, torch.bfloat16 if device == "cuda" else torch.float32, 8192 if device == "cuda" else 1024)
    results = []
    with tempfile.TemporaryDirectory() as tmp, hf_offline(), quiet_hf():
        tmp_path = Path(tmp)
        texts = [f"{r['instruction']} {r['output']}" for r in rows[:200]]
        tok = train_tokenizer(texts, 300, tmp_path / "tok")
        overrides = {"max_position_embeddings": max(seq * 2, 512)} if shape == "tiny" else {}
        if shape == "tiny":
            overrides.update(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
                             num_key_value_heads=4)
        base = random_init(shape, tok, tmp_path / "base", **overrides)
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(base)
        for name, update in configs:
            results.append(run_config(name, base, rows, dict(update), 1.0, tmp_path / "scratch"))
    fpt = model_flops_per_token(config, seq // 3, args.lora)
    print(f"\nSFT throughput: {shape} ({'LoRA' if args.lora else 'full'}), max length {seq}, {n_rows} rows, "
          f"per-device batch {batch}, device {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}"
          f", {args.threads} thread(s)); peak matmul {peak / 1e12:.2f} TFLOP/s measured\n")
    print("| config | steps | sequences | tokens | wall s | tokens/s | MFU | peak GiB | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    ref = results[0]["tokens_per_s"]
    for r in results:
        mfu = r["tokens_per_s"] * fpt / peak
        print(f"| {r['config']} | {r['steps']} | {r['sequences']} | {r['tokens']} | {r['wall_s']:.1f} | "
              f"{r['tokens_per_s']:.0f} | {mfu:.1%} | {r['peak_mem_gib']:.1f} | {r['tokens_per_s'] / ref:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

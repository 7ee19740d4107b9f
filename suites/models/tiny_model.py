"""A tiny Llama-architecture base model: built from a config and briefly pretrained on packed raw text.

This is the embedded offline default's base model. The loop is plain torch (AdamW, linear warmup then
cosine decay, gradient clipping) over fixed-length blocks cut from the concatenated token stream.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from sftbench.suites.models.tiny_config import TinyModelConfig
from sftbench.suites.models.torch_setup import hf_offline, quiet_hf, setup_torch


def pack_texts(texts: Sequence[str], tokenizer: Any, seq_len: int) -> torch.Tensor:
    """Tokenize (bos + text + eos), concatenate, and cut into `[n_blocks, seq_len]` blocks."""
    ids: list[int] = []
    eos = tokenizer.eos_token_id
    for chunk_start in range(0, len(texts), 1024):
        for seq in tokenizer(list(texts[chunk_start:chunk_start + 1024]))["input_ids"]:
            ids.extend(seq)
            ids.append(eos)
    n_blocks = len(ids) // seq_len
    if n_blocks == 0:
        raise ValueError(f"pretraining corpus has {len(ids)} tokens, fewer than one block of seq_len={seq_len}")
    return torch.tensor(ids[: n_blocks * seq_len], dtype=torch.long).view(n_blocks, seq_len)


def lr_at(step: int, steps: int, lr: float, warmup: int, min_ratio: float = 0.1) -> float:
    """Linear warmup, then cosine decay to `min_ratio * lr`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain_base(
    texts: Sequence[str],
    tokenizer_dir: Path,
    cfg: TinyModelConfig,
    out_dir: Path,
    steps: int,
    batch_size: int,
    seq_len: int,
    lr: float,
    seed: int,
    threads: int,
    progress: bool = True,
    warmup_ratio: float = 0.05,
    weight_decay: float = 0.1,
) -> dict[str, Any]:
    """Random-init a LlamaForCausalLM from `cfg` and pretrain it on packed `texts`; save model + tokenizer.

    Deterministic for the same inputs, seed and thread count. Returns stats: steps, tokens, initial and
    final loss (mean over the first/last 10 steps), wall time, parameter count.
    """
    if seq_len > cfg.max_position_embeddings:
        raise ValueError(f"seq_len={seq_len} exceeds max_position_embeddings={cfg.max_position_embeddings}")
    start = time.perf_counter()
    setup_torch(threads, seed)
    with hf_offline(), quiet_hf():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    from transformers import GenerationConfig, LlamaForCausalLM

    blocks = pack_texts(texts, tokenizer, seq_len)
    model = LlamaForCausalLM(cfg.to_llama_config(tokenizer))
    model.train()
    n_params = sum(p.numel() for p in model.parameters())

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(blocks), generator=gen)
    cursor, losses = 0, []
    warmup = max(1, int(steps * warmup_ratio))
    bar = _progress(steps, "pretrain", progress)
    for step in range(steps):
        if cursor + batch_size > len(order):  # next epoch over the blocks
            order, cursor = torch.randperm(len(blocks), generator=gen), 0
        batch = blocks[order[cursor:cursor + batch_size]]
        cursor += batch_size
        for group in optim.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup)
        loss = model(input_ids=batch, labels=batch, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    if bar is not None:
        bar.close()

    model.eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, do_sample=False,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_hf():
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    wall = time.perf_counter() - start
    head, tail = losses[:10], losses[-10:]
    return {
        "steps": steps,
        "tokens": steps * batch_size * seq_len,
        "corpus_tokens": int(blocks.numel()),
        "epochs": round(steps * batch_size / len(blocks), 3),
        "initial_loss": sum(head) / max(1, len(head)),
        "final_loss": sum(tail) / max(1, len(tail)),
        "wall_s": round(wall, 3),
        "params": n_params,
        "vocab_size": len(tokenizer),
    }


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=False)

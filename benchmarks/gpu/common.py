"""Shared pieces of the GPU benchmark parts: finding sftbench, time limits, the environment record, the measured
bf16 peak, synthetic SFT rows and random-initialised checkpoints at real shapes."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import platform
import random
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = "chatml"  # every part trains and generates with sftbench's chatml template
WORDS = ("fox", "owl", "otter", "heron", "badger", "lynx", "river", "mill", "forest", "hill", "berries", "fish",
         "seeds", "beetles", "winter", "sleeps", "eats", "lives", "near", "the", "a", "and", "in", "of", "to", "is",
         "it", "every", "morning", "north", "old", "pine", "stone", "lake", "snow", "moss", "reed", "bark")


def ensure_sftbench() -> str:
    """Import sftbench: installed (a wheel, or the editable dev install), else straight from this source tree.

    The source tree maps its top-level folders into `sftbench.*` (setup.py's package_dir); the same mapping is
    made here by adding the repository root to the `sftbench` package's search path.
    """
    try:
        import sftbench.suites.models.recipes

        return "installed"
    except ImportError:
        pass
    for name in [m for m in sys.modules if m == "sftbench" or m.startswith("sftbench.")]:
        del sys.modules[name]
    sys.path.insert(0, str(REPO))
    import sftbench

    sftbench.__path__.append(str(REPO))
    import sftbench.suites.models.recipes

    return f"source tree {REPO}"


# -- time limits -------------------------------------------------------------------------------------------------

class OutOfTime(BaseException):
    """A part ran past its time limit (a BaseException, like KeyboardInterrupt: `except Exception` blocks in the
    libraries, and in the parts' own per-configuration handlers, must not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise OutOfTime in the main thread once `seconds` have passed, and every 5 s after that until the block ends
    (SIGALRM; Python runs the handler between bytecodes, so a long CUDA kernel finishes first)."""
    def fire(signum: int, frame: Any) -> None:
        raise OutOfTime(f"over its {seconds:.0f} s limit")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001), 5.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Deadline:
    """A soft deadline parts check between units of work (a batch, a configuration)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0


# -- environment -------------------------------------------------------------------------------------------------

def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "flash-attn", "bitsandbytes",
                 "sftbench"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def environment(sftbench_from: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"versions": versions(), "sftbench_from": sftbench_from, "cpus": os.cpu_count(),
                            "machine": platform.machine(), "cuda": torch.version.cuda,
                            "load_avg": list(os.getloadavg())}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device="cuda", gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    gpu_count=torch.cuda.device_count(), capability=f"{props.major}.{props.minor}",
                    bf16=torch.cuda.is_bf16_supported())
    else:
        info.update(device="cpu", gpu=None, torch_threads=torch.get_num_threads())
    return info


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_mem_gib() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def measure_peak_bf16(size: int, reps: int) -> dict[str, float]:
    """Dense bf16 matmul throughput (FLOP/s) of this device, measured now: the denominator of every MFU here."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    wall = time.perf_counter() - start
    return {"size": size, "reps": reps, "wall_s": wall, "flops": 2 * size**3 * reps / wall}


# -- data and checkpoints ----------------------------------------------------------------------------------------

def synthetic_rows(n: int, max_words: int, seed: int = 0) -> list[dict[str, str]]:
    """Alpaca-style rows with a long-tailed (log-normal) length, mean about max_words / 6 words per response."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        length = min(max_words, max(4, int(rng.lognormvariate(0, 0.9) * max_words / 6)))
        prompt = " ".join(rng.choice(WORDS) for _ in range(max(3, length // 4)))
        rows.append({"instruction": prompt, "input": "", "output": " ".join(rng.choice(WORDS) for _ in range(length))})
    return rows


def words_text(n_tokens: int, rng: random.Random) -> str:
    """About `n_tokens` tokens of the benchmark tokenizer (each word of WORDS is one token after training)."""
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n_tokens)))


def make_tokenizer(out_dir: Path) -> Path:
    """A small byte-level BPE with sftbench's template markers as special tokens (each benchmark word: one token)."""
    from sftbench.suites.models.tokenizer_train import train_tokenizer

    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(64)) for _ in range(400)]
    return train_tokenizer(texts, 512, out_dir)


def shape_config(shape: str, seq: int) -> dict[str, Any]:
    """LlamaConfig fields of a named shape (sftbench's LLAMA_SHAPES; `tiny` made tinier for the CPU dry run)."""
    from sftbench.suites.models.base_models import LLAMA_SHAPES

    fields = dict(LLAMA_SHAPES[shape])
    if shape == "tiny":
        fields.update(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=2048)
    fields["max_position_embeddings"] = max(fields["max_position_embeddings"], 2 * seq)
    return fields


def make_checkpoint(shape: str, seq: int, tokenizer_dir: Path, out_dir: Path, dtype_name: str) -> Path:
    """A random-initialised Llama of `shape` saved as an sftbench base checkpoint: safetensors, tokenizer, template.

    The vocabulary keeps the real shape's size (128,256 for Llama-3: the LM head is a large share of the FLOPs);
    the small benchmark tokenizer uses only its first few hundred ids. Built on the GPU when there is one.
    """
    import torch
    from sftbench.suites.models.chat_templates import (
        get_template,
        save_checkpoint_template,
    )
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if (out_dir / "config.json").is_file():
        return out_dir
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    fields = shape_config(shape, seq)
    if fields["vocab_size"] < len(tok):
        raise ValueError(f"shape {shape}: vocab_size {fields['vocab_size']} < tokenizer size {len(tok)}")
    config = LlamaConfig(**fields, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model = model.to(getattr(torch, dtype_name))
    partial = out_dir.with_name(out_dir.name + ".partial")
    from sftbench.suites.models.torch_setup import quiet_hf

    with quiet_hf():
        model.save_pretrained(partial)
    tok.save_pretrained(partial)
    save_checkpoint_template(get_template(TEMPLATE), partial)
    del model
    free_memory()
    partial.rename(out_dir)
    return out_dir


def count_params(config: Any) -> dict[str, int]:
    """Parameters by role, from the config: matmul weights (layers + LM head) and the input embedding."""
    h, layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    kv = config.num_key_value_heads * (h // config.num_attention_heads)
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * inter  # q, o + k, v + gate, up, down
    lm_head = config.vocab_size * h
    return {"matmul": layers * per_layer + lm_head, "embedding": 0 if config.tie_word_embeddings else lm_head}

"""Parts 1 and 2: SFT throughput and MFU: sftbench padded, sftbench packed and trl's defaults, same rows, same run.

sftbench's rows go through `sftbench.suites.models.train.build_sft_trainer` (what `sft_train` trains with, minus the
checkpoint export, which is not training throughput). trl's row is a plain `trl.SFTTrainer` with `SFTConfig`'s
defaults (gradient checkpointing, random order, bf16 mixed precision, trl's loss) given the same model, rows (as
prompt-completion records in the same template), per-device batch and max length. Every configuration trains one
epoch; the first `warmup` steps are not timed.

Throughput counts real (non-pad) tokens. MFU = model FLOPs / measured bf16 matmul peak, with model FLOPs per token
6 N (full fine-tuning) or 4 N (LoRA: no weight gradients for the frozen base), N the matmul parameters (layers + LM
head), plus PaLM's attention term 12 * layers * hidden * T per token, T the example's own length (packed examples
count alone: their attention is block-diagonal). Gradient-checkpointing recomputation is not counted (MFU, not HFU).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    TEMPLATE,
    Deadline,
    count_params,
    free_memory,
    peak_mem_gib,
    sync,
    synthetic_rows,
)


@dataclass
class TrainCase:
    name: str
    base: Path
    seq: int
    rows: int
    batch: int
    finetune: str = "full"  # full | lora
    warmup: int = 2
    configs: tuple[str, ...] = ("sftbench padded", "sftbench packed", "trl defaults")
    retry_with_checkpointing: bool = True  # on CUDA out-of-memory
    extra: dict[str, Any] = field(default_factory=dict)


class TokenMeter:
    """Wraps a trainer's training_step: per-step real tokens, padded tokens, sum of squared example lengths, time."""

    def __init__(self, trainer: Any, warmup: int) -> None:
        self.warmup, self.steps = warmup, 0
        self.tokens = self.padded = self.sq = 0
        self.start: float | None = None
        self.end: float | None = None
        inner = trainer.training_step

        def step(*args: Any, **kwargs: Any) -> Any:
            inputs = args[1] if len(args) > 1 else kwargs["inputs"]
            if self.steps == self.warmup:
                sync()
                self.start = time.perf_counter()
            out = inner(*args, **kwargs)
            if self.steps >= self.warmup:
                self._count(inputs)
            self.steps += 1
            return out

        trainer.training_step = step

    def _count(self, inputs: dict) -> None:
        ids = inputs["input_ids"]
        self.padded += ids.numel()
        if "cu_seq_lens_q" in inputs:  # padding-free: one row of concatenated examples
            lengths = inputs["cu_seq_lens_q"].diff().tolist()
        elif "attention_mask" in inputs:
            lengths = inputs["attention_mask"].sum(dim=1).tolist()
        else:
            lengths = [ids.shape[1]] * ids.shape[0]
        self.tokens += int(sum(lengths))
        self.sq += int(sum(t * t for t in lengths))

    def finish(self) -> None:
        sync()
        self.end = time.perf_counter()


def _sft_trainer(case: TrainCase, rows: list[dict], batching: str, checkpointing: bool, scratch: Path) -> Any:
    from sftbench.suites.models.chat_templates import get_template
    from sftbench.suites.models.train import Recipe, build_sft_trainer

    lora = {"finetune": "lora", "lora": {"r": 16, "alpha": 32, "dropout": 0.0}} if case.finetune == "lora" else {}
    recipe = Recipe.model_validate({"epochs": 1, "lr": 1e-5, "warmup_ratio": 0.0, "max_length": case.seq,
                                    "batch_size": case.batch, "batching": batching, "precision": "auto",
                                    "gradient_checkpointing": checkpointing, **lora})
    return build_sft_trainer(case.base, rows, recipe, get_template(TEMPLATE), scratch)


def _trl_trainer(case: TrainCase, rows: list[dict], scratch: Path) -> Any:
    """trl's SFTTrainer with SFTConfig's defaults; only sizes, output and device settings are given."""
    import torch
    from datasets import Dataset
    from sftbench.suites.models.chat_templates import get_template
    from sftbench.suites.models.recipes import Recipe
    from sftbench.suites.models.torch_setup import hf_offline, quiet_hf
    from sftbench.suites.models.train import _attn_implementation, lora_config, use_bf16
    from sftbench.suites.models.train_data import to_prompt_completion
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    template = get_template(TEMPLATE)
    gpu = torch.cuda.is_available()
    bf16 = use_bf16(Recipe(precision="auto"))
    with hf_offline(), quiet_hf():
        tokenizer = AutoTokenizer.from_pretrained(case.base)
        dtype = torch.bfloat16 if (case.finetune == "lora" and bf16) else torch.float32  # as sftbench loads it
        model = AutoModelForCausalLM.from_pretrained(case.base, dtype=dtype, use_safetensors=True,
                                                     attn_implementation=_attn_implementation())
        args = SFTConfig(output_dir=str(scratch), num_train_epochs=1, max_length=case.seq,
                         per_device_train_batch_size=case.batch, eos_token=template.stop, bf16=bf16,
                         use_cpu=not gpu, report_to="none", save_strategy="no", disable_tqdm=True,
                         dataloader_num_workers=0)
        peft = lora_config(Recipe(finetune="lora", lora={"r": 16, "alpha": 32, "dropout": 0.0})) \
            if case.finetune == "lora" else None
        trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer, peft_config=peft,
                             train_dataset=Dataset.from_list(to_prompt_completion(rows, template)))
    trainer.remove_callback(PrinterCallback)  # output only: no effect on training
    return trainer


def _settings(trainer: Any) -> dict[str, Any]:
    args = trainer.args
    model = trainer.model
    config = getattr(model, "config", None)
    return {"bf16": bool(args.bf16), "gradient_checkpointing": bool(getattr(args, "gradient_checkpointing", False)),
            "sampling": getattr(args, "train_sampling_strategy", None), "packing": bool(getattr(args, "packing", False)),
            "attn_implementation": getattr(config, "_attn_implementation", None),
            "param_dtype": str(next(model.parameters()).dtype).removeprefix("torch.")}


def run_config(case: TrainCase, config: str, rows: list[dict], scratch: Path, checkpointing: bool) -> dict[str, Any]:
    free_memory()
    t0 = time.perf_counter()
    if config == "trl defaults":
        trainer = _trl_trainer(case, rows, scratch)
    else:
        trainer = _sft_trainer(case, rows, "packed" if "packed" in config else "padded", checkpointing, scratch)
    setup_s = time.perf_counter() - t0
    meter = TokenMeter(trainer, case.warmup)
    try:
        result = trainer.train()
        meter.finish()
        settings = _settings(trainer)
        n_params = count_params(trainer.model.config if not hasattr(trainer.model, "get_base_model")
                                else trainer.model.get_base_model().config)
    finally:
        del trainer
    timed = meter.steps - case.warmup
    if timed < 1 or meter.start is None:
        raise RuntimeError(f"{config}: only {meter.steps} steps, none after {case.warmup} warm-up steps: add rows")
    wall = meter.end - meter.start
    return {"config": config, "steps": meter.steps, "timed_steps": timed, "setup_s": round(setup_s, 2),
            "timed_s": round(wall, 3), "tokens": meter.tokens, "padded_tokens": meter.padded,
            "pad_share": round(1 - meter.tokens / meter.padded, 4) if meter.padded else 0.0,
            "sum_len_sq": meter.sq, "tokens_per_s": meter.tokens / wall, "loss": float(result.training_loss),
            "peak_mem_gib": peak_mem_gib(), "n_params": n_params, **settings}


def mfu(row: dict[str, Any], config: Any, finetune: str, peak_flops: float) -> dict[str, float]:
    """Model FLOPs of the timed steps and MFU against the measured bf16 peak (see the module docstring)."""
    dense = (4 if finetune == "lora" else 6) * row["n_params"]["matmul"] * row["tokens"]
    attention = 12 * config.num_hidden_layers * config.hidden_size * row["sum_len_sq"]
    flops = dense + attention
    achieved = flops / row["timed_s"]
    return {"model_flops": flops, "attention_share": attention / flops, "achieved_tflops": achieved / 1e12,
            "mfu": achieved / peak_flops}


def run_case(case: TrainCase, peak_flops: float, deadline: Deadline, scratch: Path,
             out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every configuration of `case`, the same rows each; a configuration that fails is recorded, the rest run.

    Rows are added to `out` as they finish, so a caller interrupted mid-way still has the finished ones.
    """
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(case.base)
    rows = synthetic_rows(case.rows, max_words=case.seq, seed=1)
    out = {} if out is None else out
    out.update({"case": case.name, "seq": case.seq, "rows": case.rows, "per_device_batch": case.batch,
                "finetune": case.finetune, "warmup_steps": case.warmup, "results": [], **case.extra})
    for name in case.configs:
        if deadline.passed():
            out["results"].append({"config": name, "status": "skipped: out of time"})
            continue
        checkpointing, note, row = False, None, None
        while row is None:
            oom = None
            try:
                row = run_config(case, name, rows, scratch / name.replace(" ", "_"), checkpointing)
                row.update(status="ok", note=note, **mfu(row, config, case.finetune, peak_flops))
            except torch.cuda.OutOfMemoryError as exc:
                oom = str(exc).splitlines()[0]
            except Exception as exc:  # noqa: BLE001 - one configuration's failure is recorded, the others still run
                row = {"config": name, "status": f"error: {type(exc).__name__}: {exc}"}
            free_memory()  # outside the except blocks: the traceback no longer pins the model's memory
            if oom is not None:
                if checkpointing or name == "trl defaults" or not case.retry_with_checkpointing or deadline.passed():
                    row = {"config": name, "status": f"error: CUDA out of memory ({oom})",
                           "gradient_checkpointing": checkpointing}
                else:
                    checkpointing, note = True, "did not fit without gradient checkpointing: re-run with it on"
        out["results"].append(row)
    return out


def markdown(out: dict[str, Any]) -> str:
    lines = [(f"{out['case']}: max length {out['seq']}, {out['rows']} rows, per-device batch "
              f"{out['per_device_batch']}, {out['finetune']} fine-tuning, first {out['warmup_steps']} steps untimed"), "",
             ("| config | status | bf16 | grad ckpt | attention | timed steps | tokens | pad share | tokens/s | "
              "TFLOP/s | MFU | peak GiB | loss |"), "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["results"]:
        if r.get("status") != "ok":
            lines.append(f"| {r['config']} | {r['status']} |" + " |" * 11)
            continue
        ckpt = "yes" + (" (needed)" if r.get("note") else "") if r["gradient_checkpointing"] else "no"
        mem = "" if r["peak_mem_gib"] is None else f"{r['peak_mem_gib']:.1f}"
        lines.append(f"| {r['config']} | ok | {'yes' if r['bf16'] else 'no'} | {ckpt} | {r['attn_implementation']} | "
                     f"{r['timed_steps']} | {r['tokens']} | {r['pad_share']:.1%} | {r['tokens_per_s']:.0f} | "
                     f"{r['achieved_tflops']:.2f} | {r['mfu']:.1%} | {mem} | {r['loss']:.3f} |")
    return "\n".join(lines)

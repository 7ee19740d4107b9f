"""Part 5: bf16 vs fp32 loss parity on one fixed batch, and a QLoRA smoke test where bitsandbytes is installed.

Parity: two sftbench trainers (`build_sft_trainer`, recipe precision fp32 and bf16) over the same checkpoint and rows;
the first batch of the fp32 trainer's dataloader is scored by both through sftbench's own loss path
(`trainer.compute_loss`), the bf16 one under bf16 autocast as its training steps run. Reported: both losses and
|bf16 - fp32| / fp32, plus the same for the gradient norm of one backward pass.
"""

from __future__ import annotations

import contextlib
import importlib.util
import time
from pathlib import Path
from typing import Any

from common import TEMPLATE, free_memory, peak_mem_gib, sync, synthetic_rows


def _trainer(base: Path, rows: list[dict], seq: int, batch: int, precision: str, scratch: Path, **extra: Any) -> Any:
    from sftbench.suites.models.chat_templates import get_template
    from sftbench.suites.models.train import Recipe, build_sft_trainer

    recipe = Recipe.model_validate({"epochs": 1, "lr": 1e-5, "warmup_ratio": 0.0, "max_length": seq,
                                    "batch_size": batch, "precision": precision, "sampling": "random", **extra})
    return build_sft_trainer(base, rows, recipe, get_template(TEMPLATE), scratch)


def _loss_and_grad(trainer: Any, batch: dict, bf16: bool) -> tuple[float, float]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = trainer.model.to(device)
    model.train()
    model.zero_grad(set_to_none=True)
    inputs = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in batch.items()}
    autocast = torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        loss = trainer.compute_loss(model, inputs)
    loss.backward()
    grads = [p.grad.float().norm() ** 2 for p in model.parameters() if p.grad is not None]
    return float(loss.detach()), float(torch.stack(grads).sum().sqrt())


def parity(base: Path, seq: int, batch: int, scratch: Path) -> dict[str, Any]:
    rows = synthetic_rows(batch * 2, max_words=seq, seed=2)
    fp32 = _trainer(base, rows, seq, batch, "fp32", scratch / "fp32")
    fixed = next(iter(fp32.get_train_dataloader()))
    fixed = {k: v.cpu() if hasattr(v, "cpu") else v for k, v in fixed.items()}
    loss32, grad32 = _loss_and_grad(fp32, dict(fixed), bf16=False)
    del fp32
    free_memory()
    bf = _trainer(base, rows, seq, batch, "bf16", scratch / "bf16")
    loss16, grad16 = _loss_and_grad(bf, dict(fixed), bf16=True)
    attn = getattr(bf.model.config, "_attn_implementation", None)
    del bf
    free_memory()
    n_tokens = int(fixed["attention_mask"].sum()) if "attention_mask" in fixed else int(fixed["input_ids"].numel())
    return {"batch_shape": list(fixed["input_ids"].shape), "tokens": n_tokens, "attn_implementation": attn,
            "loss_fp32": loss32, "loss_bf16": loss16, "loss_rel_diff": abs(loss16 - loss32) / abs(loss32),
            "grad_norm_fp32": grad32, "grad_norm_bf16": grad16, "grad_norm_rel_diff": abs(grad16 - grad32) / grad32}


def qlora(base: Path, seq: int, batch: int, steps: int, scratch: Path) -> dict[str, Any]:
    """A few QLoRA steps through sftbench (NF4 base, bf16 compute), or why they were not run."""
    import torch

    if importlib.util.find_spec("bitsandbytes") is None:
        return {"status": "not run: bitsandbytes is not installed, and its manylinux wheel (about 41 MiB) does not "
                          "fit the 64 MiB of wheels carried to the GPU machine beside the rest"}
    if not torch.cuda.is_available():
        return {"status": "not run: QLoRA's benchmark needs a GPU (sftbench's CPU 4-bit path is tested in tests/)"}
    import bitsandbytes

    rows = synthetic_rows(batch * steps, max_words=seq, seed=3)
    trainer = _trainer(base, rows, seq, batch, "auto", scratch / "qlora", finetune="qlora",
                       lora={"r": 16, "alpha": 32, "dropout": 0.0})
    free_memory()
    sync()
    start = time.perf_counter()
    result = trainer.train()
    sync()
    wall = time.perf_counter() - start
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    del trainer
    out = {"status": "ok", "bitsandbytes": bitsandbytes.__version__, "steps": result.global_step, "tokens": tokens,
           "wall_s": round(wall, 2), "tokens_per_s": tokens / wall, "loss": float(result.training_loss),
           "peak_mem_gib": peak_mem_gib()}
    free_memory()
    return out


def run(base: Path, seq: int, batch: int, scratch: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"checkpoint": base.name, "seq": seq, "batch": batch}
    try:
        out["parity"] = parity(base, seq, batch, scratch)
    except Exception as exc:  # noqa: BLE001 - recorded; the QLoRA test still runs
        out["parity"] = {"status": f"error: {type(exc).__name__}: {exc}"}
    try:
        out["qlora"] = qlora(base, seq, batch, 4, scratch)
    except Exception as exc:  # noqa: BLE001
        out["qlora"] = {"status": f"error: {type(exc).__name__}: {exc}"}
    return out


def markdown(out: dict[str, Any]) -> str:
    p, q = out["parity"], out["qlora"]
    lines = [f"Fixed batch from the {out['checkpoint']} checkpoint (max length {out['seq']}, batch {out['batch']})", ""]
    if "loss_fp32" in p:
        lines += ["| quantity | fp32 | bf16 autocast | relative difference |", "|---|---|---|---|",
                  f"| loss | {p['loss_fp32']:.6f} | {p['loss_bf16']:.6f} | {p['loss_rel_diff']:.2e} |",
                  (f"| gradient norm | {p['grad_norm_fp32']:.6g} | {p['grad_norm_bf16']:.6g} | "
                   f"{p['grad_norm_rel_diff']:.2e} |")]
    else:
        lines.append(f"Parity: {p['status']}")
    lines.append("")
    if q.get("status") == "ok":
        lines.append(f"QLoRA (bitsandbytes {q['bitsandbytes']}): {q['steps']} steps, {q['tokens_per_s']:.0f} tokens/s, "
                     f"loss {q['loss']:.3f}, peak {q['peak_mem_gib']} GiB")
    else:
        lines.append(f"QLoRA: {q['status']}")
    return "\n".join(lines)

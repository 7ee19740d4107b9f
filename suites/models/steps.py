"""The model stages as step kinds: a BPE tokenizer and a tiny pretrained base (or a real base model materialised
once), SFT training on one dataset, and greedy generation of a checkpoint's answers."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from sftbench.common.rows import read_jsonl, write_jsonl
from sftbench.suites.engine.step import Step, StepContext, one_gpu, step_kind


@step_kind("tokenizer")
def tokenizer_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    from sftbench.suites.data.steps import pool_texts
    from sftbench.suites.models.tokenizer_train import train_tokenizer
    texts = pool_texts(step.args["pool"], inputs["world"])
    train_tokenizer(texts, step.config["vocab_size"], out)
    return {"texts": len(texts)}


def train_resources(step: Step, gpus_available: bool) -> dict[str, float]:
    """A train step's processes (the recipe's gpus_per_run): that many GPUs, or CPU processes without GPUs."""
    workers = int(step.args.get("workers", 1))
    return {"num_gpus": workers, "num_cpus": 1} if gpus_available else {"num_cpus": workers}


@step_kind("pretrain", resources=one_gpu)
def pretrain_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    from sftbench.suites.data.steps import pool_texts
    from sftbench.suites.models.tiny_model import TinyModelConfig, pretrain_base
    p = step.config["pretrain"]
    texts = pool_texts(step.args["pool"], inputs["world"])
    stats = pretrain_base(texts, inputs["tokenizer"], TinyModelConfig.model_validate(step.config["model"]), out,
                          steps=p["steps"], batch_size=p["batch_size"], seq_len=p["seq_len"], lr=p["lr"], seed=0,
                          threads=ctx.threads, progress=ctx.progress)
    return {"stats": stats}


@step_kind("base")
def base_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    """A real base model (HF id at a pinned revision, local directory, GGUF) materialised once as safetensors."""
    from sftbench.suites.models.base_models import BaseModelRef, materialize
    return {"stats": materialize(BaseModelRef.model_validate(step.config), out)}


@step_kind("untuned")
def untuned_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    """The base model as a checkpoint of its own, untuned, with the suite's chat template (`evaluation.include_base`):
    its weights hard-linked (copied across file systems), its tokenizer and generation config rewritten as training
    writes them, so every evaluation answers through the same template and decoding."""
    import os
    import shutil

    from transformers import AutoTokenizer, GenerationConfig

    from sftbench.suites.models.chat_templates import get_template, save_checkpoint_template
    base = inputs["base"]
    for src in sorted(p for p in base.rglob("*") if p.is_file() and p.name != "manifest.json"):
        dest = out / src.relative_to(base)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix in (".safetensors", ".bin", ".pt", ".gguf"):  # read-only from here on: share the bytes
            try:
                os.link(src, dest)
                continue
            except OSError:
                pass
        shutil.copy2(src, dest)  # a copy: rewritten below, never the base's own file
    template = get_template(step.config["template"])
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.chat_template = template.checkpoint_jinja(tokenizer)
    tokenizer.save_pretrained(out)
    try:
        generation = GenerationConfig.from_pretrained(out)
    except OSError:
        generation = GenerationConfig()
    generation.eos_token_id = template.stop_ids(tokenizer)
    generation.pad_token_id = tokenizer.pad_token_id
    generation.save_pretrained(out)
    save_checkpoint_template(template, out)
    return {"template": template.name}


@step_kind("train", resources=train_resources)
def train_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    """Fine-tune the base model on one dataset. Intermediate checkpoints go to the step's resume directory (outside
    its temporary directory), so a killed run resumes from its last checkpoint; the executor deletes it once the
    step is stored. `args.selection` (recipe.select: best_heldout) names the factory of the epoch metric
    ("module:function", an evaluation plugin's) and its parameters; `args.report_to` the recipe's trackers (kept
    out of the key), which log under the run name `step.key.name` into the resume directory's and `out`'s logs/."""
    from sftbench.suites.models.recipes import Recipe
    from sftbench.suites.models.train import sft_train
    resume = ctx.resume_dir(step)
    metric = None
    if (selection := step.args.get("selection")) is not None:
        module, _, function = selection["factory"].partition(":")
        factory = getattr(importlib.import_module(module), function)
        metric = factory(selection["params"], inputs, ctx, resume, step.key.name)
    workers = int(step.args.get("workers", 1))
    recipe = Recipe.model_validate({**step.config["recipe"], "report_to": step.args.get("report_to", []),
                                    "gpus_per_run": workers})
    if workers > 1:
        if metric is not None:
            raise ValueError("recipe.gpus_per_run > 1 with recipe.select: best_heldout is not supported yet (the "
                             "held-out judge runs in the training process); use gpus_per_run: 1 for this recipe")
        return {"stats": launch_distributed(inputs, recipe, step.config["template"], out, resume, ctx.threads, workers)}
    stats = sft_train(inputs["base"], read_jsonl(inputs["data"] / "dataset.jsonl"), recipe, step.config["template"],
                      out, threads=ctx.threads, progress=ctx.progress, resume_dir=resume, heldout_metric=metric,
                      run_name=step.key.name)
    return {"stats": metric.annotate(stats, out) if metric is not None else stats}


def launch_distributed(inputs: dict[str, Path], recipe: Any, template: str, out: Path, resume: Path, threads: int,
                       workers: int) -> dict:
    """One fine-tune over `workers` processes (torchrun: NCCL on the GPUs this process may use, gloo on CPU), each
    running sftbench's training entry point; rank 0 writes the checkpoint into `out`."""
    import json
    import os
    import socket
    import subprocess
    import sys
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(workers), "--master_addr",
               "127.0.0.1", "--master_port", str(port), "-m", "sftbench.suites.models.train_launch",
               "--base", str(inputs["base"]), "--data", str(inputs["data"] / "dataset.jsonl"),
               "--recipe", json.dumps(recipe.model_dump(mode="json")), "--template", template, "--out", str(out),
               "--resume-dir", str(resume), "--threads", str(threads), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"distributed training ({workers} processes) failed with exit code {done.returncode}: "
                           f"{done.stderr[-2000:]}")
    stats = json.loads((out / "train_stats.json").read_text())
    (out / "train_stats.json").unlink()
    return stats


@step_kind("generate", resources=one_gpu)
def generate_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    """Answer every `instruction` of the prompts file (`args.prompts`: an input name and a file in it, JSONL in
    eval order) with the checkpoint's own template, greedily."""
    from sftbench.suites.models.generate import decoding_record, generate
    a, cfg = step.args, step.config
    prompts = read_jsonl(inputs[a["prompts"]["input"]] / a["prompts"]["file"], validate=False)
    outputs = generate(inputs["model"], [p["instruction"] for p in prompts], max_new_tokens=cfg["max_new_tokens"],
                       batch_size=cfg["batch_size"], threads=ctx.threads, progress=ctx.progress,
                       backend=a["backend"])
    write_jsonl(out / "outputs.jsonl", [{"instruction": p["instruction"], "output": o, "generator": step.key.name}
                                        for p, o in zip(prompts, outputs)])
    return {"n_outputs": len(outputs),
            "decoding": decoding_record(inputs["model"], cfg["max_new_tokens"], cfg["batch_size"], a["backend"])}


def generation_args(generation: Any) -> dict[str, Any]:
    """(config, args) parts of a suite's `generation` section: the backend is in the key only when not `auto`."""
    return {"config": {**generation.model_dump(mode="json", exclude={"backend"}), **generation.backend_param()},
            "backend": generation.backend}

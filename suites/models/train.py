"""Supervised fine-tuning of a base checkpoint on Alpaca rows with trl's SFTTrainer (CPU-friendly).

Rows are rendered by an explicit chat template and tokenized by `suites.train_data`: the loss is on the
completion (response + the template's stop token) only; multi-turn rows (`messages`) train on every assistant
turn of the conversation in one sequence. The checkpoint stores the template twice:
as the tokenizer's Jinja `chat_template` and as `sftbench_template.json`, which `suites.generate` reads.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Sequence

from sftbench.suites.models.chat_templates import ChatTemplate, get_template
from sftbench.suites.models.recipes import LoraSpec, Recipe  # noqa: F401 (re-exported)
from sftbench.suites.models.train_checkpoints import (CheckpointComplete, HeldoutMetric, copy_checkpoint,
                                                      epoch_selector, export_checkpoint, legacy_fingerprint,
                                                      prepare_resume_dir, run_fingerprint, step_of)
from sftbench.suites.models.torch_setup import hf_offline, quiet_hf, setup_torch
from sftbench.suites.models.train_data import prepare_sft_data, to_prompt_completion  # noqa: F401 (re-exported


def sft_train(
    base_dir: Path,
    rows: Sequence[dict],
    recipe: Recipe,
    template_name: str,
    out_dir: Path,
    threads: int,
    progress: bool = True,
    *,
    resume_dir: Path | None = None,
    heldout_metric: HeldoutMetric | None = None,
    trust_remote_code: bool = False,
    run_name: str | None = None,
) -> dict[str, Any]:
    """Fine-tune the checkpoint in `base_dir` on Alpaca `rows`; save model, tokenizer and template to `out_dir`.

    `resume_dir`: a persistent directory (outside the step's temp dir) for trainer checkpoints; a killed run
    called again with the same arguments resumes from the last one there. `heldout_metric` scores each epoch's
    model when `recipe.select == "best_heldout"`; the best epoch is what lands in `out_dir`. LoRA/QLoRA
    adapters are merged, so `out_dir` is always a plain safetensors checkpoint (the adapter is kept in
    `out_dir/adapter/`). Deterministic for the same inputs, recipe (seed included) and thread count.
    Returns stats: losses, steps, tokens, batch plan, precision, selection, wall time, and row counts
    (`n_multi_turn`, `assistant_turns_trained`, `truncated_rows`, `dropped_truncated`).
    `recipe.report_to`: TensorBoard / W&B / MLflow logs as `run_name` (default: `out_dir`'s name); see `Tracking`.
    """
    if not rows:
        raise ValueError("sft_train: no training rows")
    template = get_template(template_name)
    check_runtime(recipe)
    if recipe.select == "best_heldout" and heldout_metric is None:
        raise ValueError("recipe.select is 'best_heldout' but no held-out metric was supplied; the runner "
                         "passes heldout_metric=callable(checkpoint_dir) -> score, or set recipe.select: last")
    start = time.perf_counter()
    setup_torch(threads, recipe.seed)
    tracking = Tracking(recipe.report_to, run_name or Path(out_dir).name, Path(out_dir), resume_dir)
    with hf_offline(), quiet_hf(), tracking.active():  # hf_offline turns W&B and MLflow off; `active` undoes it
        stats = _train(Path(base_dir), rows, recipe, template, Path(out_dir), progress,
                       Path(resume_dir) if resume_dir is not None else None, heldout_metric, trust_remote_code,
                       tracking)
    stats["wall_s"] = round(time.perf_counter() - start, 3)
    return stats


# -- runtime: devices, precision, batch plan -------------------------------------------------------------------

def world_size() -> int:
    """Processes in this run (torchrun / accelerate launch set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def batch_plan(recipe: Recipe, n_processes: int | None = None) -> tuple[int, int]:
    """(per-device batch, gradient accumulation) giving `recipe.global_batch_size` on `n_processes` devices."""
    n = n_processes or world_size()
    if recipe.global_batch_size is None:
        return recipe.batch_size, recipe.grad_accum
    per_device = max(1, min(recipe.batch_size, recipe.global_batch_size // n))
    if recipe.global_batch_size % (per_device * n):
        raise ValueError(f"global_batch_size={recipe.global_batch_size} is not a multiple of batch_size={per_device} "
                         f"x {n} processes; change global_batch_size or batch_size")
    return per_device, recipe.global_batch_size // (per_device * n)


def use_bf16(recipe: Recipe) -> bool:
    """bf16 mixed precision: asked for (GPU, or CPU autocast), or `auto` on a GPU that has it."""
    import torch

    gpu_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return recipe.precision == "bf16" or (recipe.precision == "auto" and gpu_bf16)


def check_runtime(recipe: Recipe) -> None:
    """Fail early, with what to do, when the recipe needs hardware or packages this machine lacks."""
    import importlib.util

    import torch

    if recipe.finetune == "qlora":
        if importlib.util.find_spec("bitsandbytes") is None:
            raise RuntimeError("finetune: qlora needs bitsandbytes: pip install -e '.[qlora]' "
                               "(or use finetune: lora, the same adapters on an unquantized base)")
        if not torch.cuda.is_available():
            _check_cpu_4bit()
    if recipe.precision == "bf16" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise RuntimeError("precision: bf16 needs a GPU with bf16 support (Ampere or newer); use precision: auto")
    for name in recipe.report_to:
        modules, install = TRACKERS[name]
        if not any(importlib.util.find_spec(m) is not None for m in modules):
            raise RuntimeError(f"recipe.report_to: {name} needs the {modules[0]} package: {install} "
                               f"(or remove {name} from recipe.report_to)")


def _check_cpu_4bit() -> None:
    """QLoRA on CPU needs a bitsandbytes with CPU 4-bit kernels (tested: 0.50); probe one NF4 round trip."""
    import torch

    try:
        import bitsandbytes.functional as bnbf

        packed, state = bnbf.quantize_4bit(torch.ones(64, dtype=torch.bfloat16), quant_type="nf4")
        bnbf.dequantize_4bit(packed, state)
    except Exception as exc:  # noqa: BLE001 - any failure means no usable CPU backend
        raise RuntimeError(f"finetune: qlora on CPU needs bitsandbytes with CPU 4-bit support ({exc}); "
                           "pip install -U 'bitsandbytes>=0.50', or use finetune: lora") from exc


def distributed_name(distributed_type: Any) -> str:
    """accelerate's DistributedType as a plain name: NO, MULTI_CPU, MULTI_GPU, FSDP, DEEPSPEED, ..."""
    return str(getattr(distributed_type, "value", distributed_type))


def check_distributed(distributed_type: Any) -> None:
    """Refuse a launcher's FSDP / DeepSpeed request that accelerate did not honour (it falls back to DDP on CPU)."""
    asked = [name for name, var in (("FSDP", "ACCELERATE_USE_FSDP"), ("DEEPSPEED", "ACCELERATE_USE_DEEPSPEED"))
             if os.environ.get(var, "false").lower() == "true"]  # the test accelerate's state itself applies
    got = distributed_name(distributed_type)
    if asked and asked[0] != got:
        raise RuntimeError(f"the launcher asked for {asked[0]} but accelerate runs {got}: {asked[0]} needs GPUs. "
                           "On CPU launch plain data parallelism instead: torchrun --nproc_per_node N "
                           "-m sftbench.suites.models.train_launch ... (see suites/accelerate_configs/README.md)")


def qlora_device_map() -> dict[str, Any]:
    """Where a 4-bit model loads: this process's GPU (LOCAL_RANK under a launcher), else the CPU."""
    import torch

    return {"": int(os.environ.get("LOCAL_RANK", "0")) if torch.cuda.is_available() else "cpu"}


def quantization_config(recipe: Recipe) -> Any:
    """The QLoRA 4-bit config (NF4, double quantization, bf16 compute), or None for full/LoRA."""
    if recipe.finetune != "qlora":
        return None
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def lora_config(recipe: Recipe, modules_to_save: Sequence[str] = ()) -> Any:
    """peft LoraConfig for `lora`/`qlora` recipes, or None for full fine-tuning."""
    if recipe.finetune == "full":
        return None
    from peft import LoraConfig

    spec = recipe.lora
    return LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, task_type="CAUSAL_LM",
                      target_modules=spec.target_modules, modules_to_save=list(modules_to_save) or None)


def _scheduler(recipe: Recipe) -> tuple[str, dict[str, Any] | None]:
    if recipe.min_lr is None:
        return recipe.lr_scheduler, None
    if recipe.lr_scheduler == "linear":  # polynomial decay of power 1 to lr_end: linear lr -> min_lr
        return "polynomial", {"lr_end": recipe.min_lr, "power": 1.0}
    return "cosine_with_min_lr", {"min_lr": recipe.min_lr}


def _attn_implementation() -> str:
    import importlib.util

    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


# -- trainer ---------------------------------------------------------------------------------------------------

def build_sft_trainer(
    base_dir: Path,
    rows: Sequence[dict],
    recipe: Recipe,
    template: ChatTemplate,
    scratch_dir: Path,
    callbacks: Sequence[Any] = (),
    trust_remote_code: bool = False,
) -> Any:
    """A ready `trl.SFTTrainer` (dataset tokenized, completion-only labels built) writing only to scratch.

    Checkpoints (when `scratch_dir` is a resume dir) are saved per epoch or every `recipe.save_steps`.
    """
    with hf_offline(), quiet_hf():
        return _build_sft_trainer(base_dir, rows, recipe, template, scratch_dir, callbacks, trust_remote_code,
                                  save=False)


def _load_model(base_dir: Path, recipe: Recipe, bf16: bool, trust_remote_code: bool) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": trust_remote_code,
                              "attn_implementation": _attn_implementation()}
    if recipe.finetune == "qlora":
        kwargs.update(quantization_config=quantization_config(recipe), dtype=torch.bfloat16,
                      device_map=qlora_device_map())
    else:  # full: fp32 master weights (bf16 autocast on GPU); LoRA: a frozen base can live in bf16
        kwargs["dtype"] = torch.bfloat16 if (recipe.finetune == "lora" and bf16) else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, **kwargs)
    if recipe.finetune == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe.gradient_checkpointing)
    return model


def _build_sft_trainer(base_dir: Path, rows: Sequence[dict], recipe: Recipe, template: ChatTemplate,
                       scratch_dir: Path, callbacks: Sequence[Any], trust_remote_code: bool, save: bool,
                       tracking: Tracking | None = None) -> Any:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTConfig, SFTTrainer

    bf16 = use_bf16(recipe)
    tokenizer = AutoTokenizer.from_pretrained(base_dir, trust_remote_code=trust_remote_code)
    model = _load_model(base_dir, recipe, bf16, trust_remote_code)
    missing = [t for t in template.special_tokens if t not in tokenizer.get_vocab()]
    modules_to_save: list[str] = []
    if missing:  # a base model from elsewhere: add the template's markers as new special tokens
        tokenizer.add_tokens(missing, special_tokens=True)
        model.resize_token_embeddings(len(tokenizer))
        modules_to_save = _embedding_module_names(model)  # LoRA: new rows must be trained and saved
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.eos_token = template.stop  # what trl sets (SFTConfig.eos_token) before it would tokenize
    data = prepare_sft_data(rows, template, tokenizer, recipe.system_prompt, recipe.max_length)
    # pre-tokenized: trl builds labels from completion_mask. When every row was dropped the trainer is still
    # built (trl needs an example; padded, it drops them itself) and `_train` reports it.
    dataset = Dataset.from_list(data.examples or data.dropped)
    per_device, accum = batch_plan(recipe)
    scheduler, scheduler_kwargs = _scheduler(recipe)
    if save:
        save_args: dict[str, Any] = {"save_strategy": "steps" if recipe.save_steps else "epoch",
                                     "save_total_limit": recipe.save_total_limit}
        if recipe.save_steps:
            save_args["save_steps"] = recipe.save_steps
    else:
        save_args = {"save_strategy": "no"}
    args = SFTConfig(
        output_dir=str(scratch_dir),
        num_train_epochs=recipe.epochs,
        learning_rate=recipe.lr,
        lr_scheduler_type=scheduler,
        lr_scheduler_kwargs=scheduler_kwargs,
        warmup_steps=recipe.warmup_ratio,  # a float < 1 is a fraction of the steps in transformers 5
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accum,
        weight_decay=recipe.weight_decay,
        adam_beta1=recipe.adam_beta1,
        adam_beta2=recipe.adam_beta2,
        adam_epsilon=recipe.adam_epsilon,
        max_grad_norm=recipe.max_grad_norm,
        max_length=recipe.max_length,
        seed=recipe.seed,
        data_seed=recipe.seed,
        train_sampling_strategy=recipe.sampling,
        completion_only_loss=True,
        eos_token=template.stop,  # the completion ends with it; generation stops at it
        packing=recipe.batching == "packed",
        packing_strategy="bfd",  # best-fit decreasing: whole examples, padding-free, no cross-attention
        neftune_noise_alpha=recipe.neftune_alpha,
        **_checkpointing(SFTConfig, recipe.gradient_checkpointing),
        bf16=bf16,
        fp16=False,
        use_cpu=not torch.cuda.is_available(),
        report_to=list(tracking.report_to) if tracking and tracking.report_to else "none",
        run_name=tracking.run_name if tracking else None,
        **save_args,
        logging_strategy="steps",
        logging_steps=0.05,  # a float < 1 is a fraction of the steps: about 20 loss points per run
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataset_num_proc=None,
    )
    trainer_cls = _resumable_sampling(SFTTrainer if recipe.fused_loss else _plain_loss_trainer(SFTTrainer))
    trainer = trainer_cls(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                          callbacks=list(callbacks), peft_config=lora_config(recipe, modules_to_save))
    check_distributed(trainer.accelerator.distributed_type)
    trainer.remove_callback(PrinterCallback)  # our recorder shows one progress bar instead of printed dicts
    trainer.remove_callback(ProgressCallback)
    trainer.sftbench_data = data  # row counts for the run's stats
    return trainer


def _resumable_sampling(trainer_cls: type) -> type:
    """group_by_length with a per-epoch seeded generator, so a resumed run replays the same batches.

    transformers' LengthGroupedSampler draws from the global RNG when iterated; after a resume that state
    differs, and the interrupted epoch would continue with another permutation.
    """
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
        def __init__(self, *args: Any, seed: int, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.seed, self.epoch = seed, 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = int(epoch)

        def __iter__(self) -> Any:
            self.generator = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
            return super().__iter__()

    class ResumableSamplingTrainer(trainer_cls):  # type: ignore[misc, valid-type]
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            sampler = super()._get_train_sampler(train_dataset)
            if not isinstance(sampler, LengthGroupedSampler):
                return sampler
            return EpochSeededLengthGroupedSampler(sampler.batch_size, lengths=sampler.lengths,
                                                   seed=self.args.data_seed or self.args.seed)

    return ResumableSamplingTrainer


def _embedding_module_names(model: Any) -> list[str]:
    wanted = {id(model.get_input_embeddings()), id(model.get_output_embeddings())}
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if id(module) in wanted})


# -- tracking: recipe.report_to through transformers' own integrations ----------------------------------------------

TRACKERS = {  # report_to name -> (modules, any of which serves it; how to install)
    "tensorboard": (("tensorboard", "tensorboardX"), "pip install tensorboard (or pip install -e '.[tracking]')"),
    "wandb": (("wandb",), "pip install wandb (or pip install -e '.[tracking]')"),
    "mlflow": (("mlflow",), "pip install mlflow"),
}
_TRACKER_SWITCHES = ("WANDB_MODE", "WANDB_DISABLED", "DISABLE_MLFLOW_INTEGRATION")  # what hf_offline overrides
_wandb_run = lambda: importlib.import_module("wandb").run  # wandb is imported only when asked for


class Tracking:
    """Where `recipe.report_to` sends logs: `resume_dir/logs/` (kept across a kill, copied to `out_dir/logs/`) or
    `out_dir/logs/`. For the trackers named, the user's WANDB_MODE, WANDB_DISABLED, DISABLE_MLFLOW_INTEGRATION
    (hf_offline overrides them) come back; unset ones point into the logs: TENSORBOARD_LOGGING_DIR=<logs>/tensorboard,
    WANDB_DIR=<logs>, MLFLOW_TRACKING_URI=sqlite:///<logs>/mlflow.db; W&B project and MLflow experiment `sftbench`.
    No API key is read or written here."""

    def __init__(self, report_to: Sequence[str], run_name: str, out_dir: Path, resume_dir: Path | None) -> None:
        self.report_to, self.run_name, self.out = list(report_to), run_name, Path(out_dir).absolute() / "logs"
        self.logs = Path(resume_dir).absolute() / "logs" if resume_dir is not None else self.out
        self.user_env = {key: os.environ.get(key) for key in _TRACKER_SWITCHES}  # taken before hf_offline

    def env(self) -> dict[str, str | None]:
        """The variables to set while training (None: unset)."""
        env: dict[str, str | None] = {}
        get = os.environ.get
        if "tensorboard" in self.report_to:
            env["TENSORBOARD_LOGGING_DIR"] = get("TENSORBOARD_LOGGING_DIR") or str(self.logs / "tensorboard")
        if "wandb" in self.report_to:
            env.update(WANDB_MODE=self.user_env["WANDB_MODE"], WANDB_DISABLED=self.user_env["WANDB_DISABLED"],
                       WANDB_PROJECT=get("WANDB_PROJECT") or "sftbench", WANDB_DIR=get("WANDB_DIR") or str(self.logs))
        if "mlflow" in self.report_to:
            env.update(DISABLE_MLFLOW_INTEGRATION=self.user_env["DISABLE_MLFLOW_INTEGRATION"],
                       MLFLOW_TRACKING_URI=get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.logs / 'mlflow.db'}",
                       MLFLOW_EXPERIMENT_NAME=get("MLFLOW_EXPERIMENT_NAME") or "sftbench")
        return env

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Inside `hf_offline`: the trackers' environment; on exit their runs end and the logs reach `out/logs/`."""
        if not self.report_to:
            yield
            return
        env = self.env()
        saved = {key: os.environ.get(key) for key in env}
        _set_env(env)
        self.logs.mkdir(parents=True, exist_ok=True)
        own_wandb, ok = "wandb" in self.report_to and _wandb_run() is None, False  # a caller's run stays open
        try:
            yield
            ok = True
        finally:
            try:
                self._end_runs(ok, own_wandb)
            finally:
                _set_env(saved)
        if self.logs != self.out and self.logs.is_dir() and int(os.environ.get("RANK", "0")) == 0:
            _copy_files(self.logs, self.out)

    def _end_runs(self, ok: bool, own_wandb: bool) -> None:
        if own_wandb and (run := _wandb_run()) is not None:  # else the next train step would log into it
            run.finish(exit_code=0 if ok else 1)
        if "mlflow" in self.report_to and not ok:  # transformers ends its MLflow run at train end, not on errors
            import mlflow

            if mlflow.active_run() is not None:
                mlflow.end_run(status="FAILED")


def _set_env(env: dict[str, str | None]) -> None:
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _copy_files(src: Path, dest: Path) -> None:
    """Copy a logs tree, plain files only (wandb's `latest-run` and debug-log links would dangle)."""
    shutil.copytree(src, dest, dirs_exist_ok=True,
                    ignore=lambda folder, names: [n for n in names if (Path(folder) / n).is_symlink()])


# -- the run: resume, epoch selection, export --------------------------------------------------------------------

def _train(base_dir: Path, rows: Sequence[dict], recipe: Recipe, template: ChatTemplate, out_dir: Path,
           progress: bool, resume_dir: Path | None, heldout_metric: HeldoutMetric | None,
           trust_remote_code: bool, tracking: Tracking | None = None) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    recorder = _recorder(progress)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".trainer-") as scratch:
        work = resume_dir if resume_dir is not None else Path(scratch)
        trained = SimpleNamespace(model_dump=lambda **_: recipe.result_fields())  # no report_to, as step keys
        last = prepare_resume_dir(work, run_fingerprint(base_dir, rows, trained, template),
                                  legacy_fingerprint(base_dir, rows, trained, template)) if resume_dir else None
        callbacks: list[Any] = [recorder, CheckpointComplete()]
        selector = None
        if recipe.select == "best_heldout":
            selector = epoch_selector(work / "epochs", heldout_metric, base_dir, template)
            callbacks.append(selector)
        trainer = _build_sft_trainer(base_dir, rows, recipe, template, work, callbacks, trust_remote_code,
                                     save=resume_dir is not None, tracking=tracking)
        if not trainer.sftbench_data.examples or len(trainer.train_dataset) == 0:
            raise ValueError(f"sft_train: all {len(rows)} rows were dropped: their prompts fill "
                             f"max_length={recipe.max_length} tokens with template {template.name!r}; raise max_length")
        if selector is not None:
            selector.trainer = trainer
        result = trainer.train(resume_from_checkpoint=str(last) if last else None)
        if selector is not None and selector.best is not None:
            if trainer.is_world_process_zero():
                copy_checkpoint(work / "epochs" / selector.best["dir"], out_dir)
        else:
            export_checkpoint(trainer, base_dir, template, out_dir)
    prepared = trainer.train_dataset
    seq_tokens = sum(len(ids) for ids in prepared["input_ids"])
    completion_tokens = sum(sum(1 for x in labels if x != -100) for labels in _labels(prepared))
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    per_device, accum = batch_plan(recipe)
    model = trainer.model
    return {
        "template": template.name,
        "preset": recipe.preset,
        "rows": len(rows),
        **trainer.sftbench_data.stats(),  # n_multi_turn, assistant_turns_trained, truncated/dropped rows
        "examples": len(prepared),  # rows (or packed sequences) left after dropping fully truncated ones
        "steps": result.global_step,
        "epochs": recipe.epochs,
        "resumed_from_step": step_of(last),
        "train_loss": float(result.training_loss),
        "final_loss": float(losses[-1]) if losses else float(result.training_loss),
        "loss_curve": losses,
        "tokens": int(seq_tokens * recipe.epochs),
        "completion_tokens": int(completion_tokens * recipe.epochs),
        "finetune": recipe.finetune,
        "trainable_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "batching": recipe.batching,
        "world_size": world_size(),
        "distributed": distributed_name(trainer.accelerator.distributed_type),
        "per_device_batch": per_device,
        "grad_accum": accum,
        "global_batch": per_device * accum * world_size(),
        "precision": "bf16" if use_bf16(recipe) else "fp32",
        "selection": ({"by": "best_heldout", "best": selector.best, "scores": selector.scores}
                      if selector is not None else {"by": "last"}),
    }


def _labels(prepared: Any) -> Any:
    if "labels" in prepared.column_names:
        return prepared["labels"]
    masks = prepared["completion_mask"] if "completion_mask" in prepared.column_names else None
    if masks is None:
        return prepared["input_ids"]
    return [[t if m else -100 for t, m in zip(ids, mask)] for ids, mask in zip(prepared["input_ids"], masks)]


def _checkpointing(config_cls: Any, on: bool) -> dict[str, bool]:
    """transformers 5.x renamed gradient_checkpointing to activation_checkpointing (the old name warns)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    return {"activation_checkpointing": on} if "activation_checkpointing" in names else {
        "gradient_checkpointing": on}


def _no_checkpointing(config_cls: Any) -> dict[str, bool]:
    return _checkpointing(config_cls, False)


def _plain_loss_trainer(sft_trainer: type) -> type:
    """SFTTrainer whose loss projects only the label positions through the LM head (mean NLL, like trl's).

    The model's own forward does it, given `logits_to_keep` as a boolean mask (transformers'
    `slice_logits_to_keep`), so any wrapper (DDP, FSDP, DeepSpeed), accelerate's autocast and model-specific
    logit scaling (softcapping, logit scales) apply as in a plain forward. trl's fused LM head computes the same
    loss in tiles plus entropy and accuracy metrics; on CPU that costs more than a tiny model's whole forward
    pass. Models whose forward predates boolean masks fall back to the full-logits loss.
    """
    import inspect

    import torch
    import torch.nn.functional as F
    from transformers import Trainer

    def keeps_logits_by_mask(model: Any) -> bool:
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
        try:
            return "slice_logits_to_keep(" in inspect.getsource(type(causal_lm).forward)
        except (OSError, TypeError):
            return False

    class PlainLossSFTTrainer(sft_trainer):
        def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            inputs["use_cache"] = False
            if not hasattr(self, "_mask_logits"):
                self._mask_logits = keeps_logits_by_mask(self.model)
            if return_outputs or not self._mask_logits:
                return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)
            labels = inputs.pop("labels")
            keep = torch.zeros_like(labels, dtype=torch.bool)
            keep[:, :-1] = labels[:, 1:] != -100  # positions whose next token is a label
            logits = model(**inputs, logits_to_keep=keep).logits  # (kept positions, vocab), row-major
            total = F.cross_entropy(logits.float(), labels[:, 1:][keep[:, :-1]], reduction="sum")
            count = num_items_in_batch if num_items_in_batch is not None else keep.sum()
            loss = total / torch.as_tensor(count, device=total.device).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # the count is over every process and gradients are averaged over them: as Trainer.compute_loss
                scale = self.accelerator.num_processes // self.get_tp_size()
                loss = loss * (scale if self.args.n_gpu <= 1 else self.args.n_gpu)
            return loss

    return PlainLossSFTTrainer


def _recorder(progress: bool) -> Any:
    """A Trainer callback that keeps the logs and shows one tqdm bar (instead of printed log dicts)."""
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        def __init__(self) -> None:
            self.logs: list[dict] = []
            self.bar: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if progress:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=state.max_steps, desc="sft", unit="step", leave=False)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.update(1)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if logs:
                self.logs.append(dict(logs))
                if self.bar is not None and "loss" in logs:
                    self.bar.set_postfix(loss=f"{logs['loss']:.3f}", refresh=False)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return Recorder()

"""Training checkpoints: resume directories, per-epoch held-out selection, and the exported checkpoint.

Split from suites/train.py: everything here is about what a training run writes to disk and reads back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from transformers import TrainerCallback

from sftbench.suites.models.chat_templates import ChatTemplate, save_checkpoint_template

HeldoutMetric = Callable[[Path], float]
"""The runner's held-out metric: a checkpoint directory (model, tokenizer, template) -> score, higher is better."""

RESUME_FILE = "sftbench_resume.json"  # in a resume_dir: the run the checkpoints belong to
SELECTION_FILE = "selection.json"  # in a resume_dir's epochs/: held-out scores of the epochs evaluated so far


COMPLETE_FILE = "sftbench_complete"  # in a checkpoint-N directory: written after the Trainer finished saving it


def _fingerprint(base: str, rows: Sequence[dict], recipe: Any, template: ChatTemplate) -> str:
    payload = json.dumps({"base": base, "recipe": recipe.model_dump(mode="json"), "template": template.name,
                          "rows": list(rows)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def run_fingerprint(base_dir: Path, rows: Sequence[dict], recipe: Any, template: ChatTemplate) -> str:
    """What a resume directory's checkpoints belong to: the base model by content (its config and weights' sizes
    and names, not where it lies: a moved runs directory or store still resumes), rows, recipe and template."""
    base = Path(base_dir)
    content = [(p.name, p.stat().st_size) for p in sorted(base.iterdir()) if p.is_file()] if base.is_dir() else []
    config = (base / "config.json").read_text() if (base / "config.json").is_file() else ""
    return _fingerprint(json.dumps({"files": content, "config": config}), rows, recipe, template)


def legacy_fingerprint(base_dir: Path, rows: Sequence[dict], recipe: Any, template: ChatTemplate) -> str:
    """The fingerprint sftbench < 0.2 wrote (the base model's absolute path): such resume directories still resume."""
    return _fingerprint(str(Path(base_dir).resolve()), rows, recipe, template)


def prepare_resume_dir(resume_dir: Path, fingerprint: str, legacy: str | None = None) -> Path | None:
    """The newest complete checkpoint in `resume_dir` when it belongs to this run (a foreign resume_dir is an
    error). Checkpoints a kill or a full disk cut short (no completion mark) are discarded, and it says so."""
    resume_dir.mkdir(parents=True, exist_ok=True)
    marker = resume_dir / RESUME_FILE
    if marker.is_file():
        try:
            stored = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
        except ValueError:
            stored = None  # a marker cut short: rewritten below
        if stored not in (fingerprint, legacy, None):
            raise ValueError(f"{resume_dir}: holds checkpoints of another training run (base model, rows, recipe "
                             "or template differ); give each run its own resume_dir or delete this one")
    if not marker.is_file() or json.loads(marker.read_text(encoding="utf-8") or "{}").get("fingerprint") != fingerprint:
        # every process of a launch gets here: each writes the same text, atomically
        tmp = marker.with_name(f".{marker.name}.{socket.gethostname()}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
        os.replace(tmp, marker)
    return last_complete_checkpoint(resume_dir)


def last_complete_checkpoint(resume_dir: Path) -> Path | None:
    """The newest checkpoint-N that was saved completely; incomplete ones are deleted with a message."""
    import sys
    checkpoints = sorted((p for p in resume_dir.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()),
                         key=lambda p: int(p.name[11:]))
    marked = any((p / COMPLETE_FILE).is_file() for p in checkpoints)
    complete = [p for p in checkpoints if _complete(p, marked)]
    for p in checkpoints:
        if p not in complete:
            print(f"sftbench: discarding {p}: its save was cut short (a kill or a full disk); resuming from "
                  f"{complete[-1].name if complete else 'the start'}", file=sys.stderr)
            shutil.rmtree(p, ignore_errors=True)
    return complete[-1] if complete else None


def _complete(checkpoint: Path, marked: bool) -> bool:
    if (checkpoint / COMPLETE_FILE).is_file():
        return True
    if marked:  # sftbench marks every checkpoint it finishes: an unmarked one was cut short
        return False
    try:  # checkpoints from before completion marks: a readable trainer state and weights
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return any(checkpoint.glob("*.safetensors")) or any(checkpoint.glob("adapter_model.*"))


class CheckpointComplete(TrainerCallback):
    """A Trainer callback: marks each checkpoint complete once the Trainer has finished saving it."""

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / COMPLETE_FILE).write_text("saved\n")


def step_of(checkpoint: Path | None) -> int | None:
    return int(checkpoint.name.rsplit("-", 1)[-1]) if checkpoint is not None else None


def export_checkpoint(trainer: Any, base_dir: Path, template: ChatTemplate, dest: Path) -> None:
    """Save the trained model as a plain safetensors checkpoint with tokenizer and template in `dest`.

    Goes through `trainer.save_model` (gathers FSDP / ZeRO-3 shards; call it on every process). A peft model
    is saved as an adapter in `dest/adapter/` and merged into a fresh copy of the base (never the 4-bit one).
    """
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = trainer.processing_class
    tokenizer.chat_template = template.checkpoint_jinja(tokenizer)
    model = trainer.model
    is_peft = hasattr(model, "peft_config")
    target = model.get_base_model() if is_peft else model
    target.generation_config.eos_token_id = template.stop_ids(tokenizer)
    target.generation_config.pad_token_id = tokenizer.pad_token_id
    trainer.save_model(str(dest / "adapter") if is_peft else str(dest))
    if not trainer.is_world_process_zero():
        return
    if is_peft:
        merged = merge_adapter(base_dir, dest / "adapter", tokenizer, trainer.args.bf16)
        merged.generation_config.eos_token_id = template.stop_ids(tokenizer)
        merged.generation_config.pad_token_id = tokenizer.pad_token_id
        merged.save_pretrained(dest)
    for leftover in ("training_args.bin",):  # pickles: the checkpoint is safetensors + JSON only
        for path in dest.rglob(leftover):
            path.unlink()
    tokenizer.save_pretrained(dest)
    save_checkpoint_template(template, dest)


def merge_adapter(base_dir: Path, adapter_dir: Path, tokenizer: Any, bf16: bool) -> Any:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16 if bf16 else torch.float32,
                                                use_safetensors=True)
    if base.get_input_embeddings().num_embeddings != len(tokenizer):
        base.resize_token_embeddings(len(tokenizer))
    return PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()


def copy_checkpoint(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        target = dest / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)


def epoch_selector(root: Path, metric: HeldoutMetric | None, base_dir: Path, template: ChatTemplate) -> Any:
    """A callback that exports each epoch's model to `root/epoch-N`, scores it and keeps only the best.

    Scores persist in `root/selection.json`, so a resumed run remembers epochs scored before the kill. The
    metric runs with the RNG state saved and restored: scoring never changes the training that follows.
    """
    from transformers import TrainerCallback

    class EpochSelector(TrainerCallback):
        def __init__(self) -> None:
            self.trainer: Any = None
            root.mkdir(parents=True, exist_ok=True)
            self.file = root / SELECTION_FILE
            saved = json.loads(self.file.read_text(encoding="utf-8")) if self.file.is_file() else {}
            self.scores: list[dict] = saved.get("scores", [])
            self.best: dict | None = saved.get("best")

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            epoch = round(float(state.epoch), 3)
            name = f"epoch-{epoch:g}"
            export_checkpoint(self.trainer, base_dir, template, root / name)
            if not self.trainer.is_world_process_zero():
                return
            with rng_preserved():
                score = float(metric(root / name))  # type: ignore[misc]
            self.scores = [s for s in self.scores if s["dir"] != name]
            self.scores.append({"epoch": epoch, "step": state.global_step, "score": score, "dir": name})
            if self.best is None or score > self.best["score"] or self.best["dir"] == name:
                self.best = self.scores[-1]
            for path in root.iterdir():
                if path.is_dir() and path.name != self.best["dir"]:
                    shutil.rmtree(path)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"scores": self.scores, "best": self.best}, indent=1), encoding="utf-8")
            tmp.replace(self.file)

    return EpochSelector()


@contextlib.contextmanager
def rng_preserved() -> Iterator[None]:
    import random

    import numpy as np
    import torch

    states = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
              torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None, torch.get_num_threads())
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if states[3] is not None:
            torch.cuda.set_rng_state_all(states[3])
        torch.set_num_threads(states[4])

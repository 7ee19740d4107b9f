"""Multi-process training on CPU: `torchrun` data parallelism, the shipped accelerate configs, refused FSDP on CPU.

Each test launches real processes (gloo backend) running `python -m sftbench.suites.models.train_launch`, the command the README
documents for `accelerate launch` / `torchrun` on GPUs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest
import torch

from tests.suites.tiny_training import rows as _rows
from tests.suites.tiny_training import tiny_base
from tests.suites.tiny_training import weights as _weights

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "suites" / "accelerate_configs"
RECIPE = {"epochs": 2, "lr": 3e-3, "batch_size": 4, "global_batch_size": 8, "max_length": 256, "seed": 3,
          "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}
CHECKPOINT_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                    "tokenizer_config.json", "chat_template.jinja", "sftbench_template.json", "train_stats.json"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_base(tmp_path_factory)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "dataset.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _rows(32)), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(launcher: list[str], base: Path, data: Path, recipe: dict, out: Path,
            extra: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """`launcher` ends with a script path, or `-m sftbench.suites.models.train_launch` is added."""
    module = [] if launcher[-1].endswith(".py") else ["-m", "sftbench.suites.models.train_launch"]
    command = [*launcher, *module, "--base", str(base), "--data", str(data),
               "--recipe", json.dumps(recipe), "--out", str(out), "--quiet", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # CPU processes, also on a GPU host
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _torchrun(n: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_addr", "127.0.0.1",
            "--master_port", str(_free_port())]


@pytest.mark.slow
@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_two_processes_train_the_same_weights_as_one(base: Path, data: Path, tmp_path: Path, finetune: str) -> None:
    """The global batch is the recipe's whatever the process count: 2 x 4 rows (DDP) == 1 x 4 rows x 2 accumulated."""
    recipe = {**RECIPE, "finetune": finetune}
    one = _launch([sys.executable], base, data, recipe, tmp_path / "one")
    assert one.returncode == 0, one.stderr[-3000:]
    two = _launch(_torchrun(2), base, data, recipe, tmp_path / "two")
    assert two.returncode == 0, two.stderr[-3000:]

    stats = {name: json.loads((tmp_path / name / "train_stats.json").read_text()) for name in ("one", "two")}
    assert (stats["one"]["world_size"], stats["one"]["grad_accum"], stats["one"]["distributed"]) == (1, 2, "NO")
    assert (stats["two"]["world_size"], stats["two"]["grad_accum"], stats["two"]["distributed"]) == (2, 1, "MULTI_CPU")
    for s in stats.values():
        assert (s["per_device_batch"], s["global_batch"], s["steps"], s["finetune"]) == (4, 8, 8, finetune)
    assert stats["two"]["train_loss"] == pytest.approx(stats["one"]["train_loss"], rel=1e-5)

    expected = CHECKPOINT_FILES | ({"adapter"} if finetune == "lora" else set())
    for name in ("one", "two"):  # rank 0 alone wrote the checkpoint; no scratch left behind
        assert {p.name for p in (tmp_path / name).iterdir()} == expected
    one_w, two_w, base_w = _weights(tmp_path / "one"), _weights(tmp_path / "two"), _weights(base)
    assert one_w.keys() == two_w.keys() == base_w.keys()
    moved = [k for k in one_w if not torch.equal(one_w[k], base_w[k])]
    assert moved and all(torch.allclose(one_w[k], two_w[k], atol=1e-5) for k in one_w)


KILL_AT_STEP = '''
import os, sys
import transformers
from sftbench.suites.models.train_launch import main

class Kill(transformers.TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= 4 and int(os.environ.get("RANK", "0")) == 1:
            os._exit(9)  # like SIGKILL on one worker: no cleanup; the launcher tears the others down

original = transformers.Trainer.__init__
def init(self, *args, **kwargs):
    original(self, *args, **kwargs)
    self.add_callback(Kill())
transformers.Trainer.__init__ = init
sys.exit(main())
'''


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_to_the_uninterrupted_weights(base: Path, data: Path, tmp_path: Path) -> None:
    recipe = {**RECIPE, "save_steps": 2}  # 8 optimizer steps; checkpoints at 2, 4, 6
    full = _launch(_torchrun(2), base, data, recipe, tmp_path / "full")
    assert full.returncode == 0, full.stderr[-3000:]
    resume = ["--resume-dir", str(tmp_path / "resume")]
    script = tmp_path / "kill_at_step.py"
    script.write_text(KILL_AT_STEP, encoding="utf-8")
    killed = _launch([*_torchrun(2), str(script)], base, data, recipe, tmp_path / "killed", resume)
    assert killed.returncode != 0 and (tmp_path / "resume" / "checkpoint-4").is_dir()
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    again = _launch(_torchrun(2), base, data, recipe, tmp_path / "again", resume)
    assert again.returncode == 0, again.stderr[-3000:]
    stats = json.loads((tmp_path / "again" / "train_stats.json").read_text())
    assert stats["resumed_from_step"] in (4, 6) and stats["steps"] == 8
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "again")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_fsdp_config_on_cpu_is_refused_with_the_cpu_command(base: Path, data: Path, tmp_path: Path) -> None:
    """accelerate silently falls back to DDP for FSDP on CPU; sftbench says so and exits non-zero."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "fsdp.yaml"),
                "--num_processes", "2", "--main_process_port", str(_free_port())]
    run = _launch(launcher, base, data, RECIPE, tmp_path / "out")
    assert run.returncode != 0
    assert "the launcher asked for FSDP but accelerate runs MULTI_CPU" in run.stderr
    assert "torchrun --nproc_per_node N -m sftbench.suites.models.train_launch" in run.stderr
    assert not (tmp_path / "out" / "model.safetensors").exists()


@pytest.mark.parametrize("name", ["fsdp.yaml", "deepspeed_zero2.yaml", "deepspeed_zero3.yaml"])
def test_shipped_accelerate_configs_are_what_accelerate_launch_reads(name: str) -> None:
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.commands.launch import (
        _validate_launch_command,
        launch_command_parser,
    )

    config = ClusterConfig.from_yaml_file(CONFIGS / name)  # unknown keys are an error here
    assert config.mixed_precision == "bf16" and config.num_machines == 1
    args = launch_command_parser().parse_args(["--config_file", str(CONFIGS / name), "-m", "sftbench.suites.models.train_launch"])
    args, _, _ = _validate_launch_command(args)
    if name == "fsdp.yaml":
        from accelerate.utils import FullyShardedDataParallelPlugin
        from accelerate.utils.launch import prepare_multi_gpu_env

        assert args.use_fsdp
        env = prepare_multi_gpu_env(args)
        saved = dict(os.environ)
        try:
            os.environ.update(env)
            plugin = FullyShardedDataParallelPlugin()  # what each launched process builds from the environment
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
        assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"
        assert plugin.state_dict_type.name == "FULL_STATE_DICT"  # rank 0 can write one safetensors checkpoint
    else:
        assert args.use_deepspeed and args.zero_stage == int(name[-6])

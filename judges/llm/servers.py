"""Managed local OpenAI-compatible servers: llama.cpp's (CPU, a GGUF) and vLLM's (GPU), on a free loopback port.

Each starts the server as a child process bound to 127.0.0.1, polls `GET /v1/models` until it answers
(failing early with the log tail if the process dies), yields its base URL, and stops the process it
started (SIGTERM, then SIGKILL after a grace period). `managed_endpoints` does this for a whole set of role
configs, starting one server per distinct model/settings and sharing it between roles.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from sftbench.judges.llm.config import LLMRoleConfig
from sftbench.judges.llm.chat import LLMError


@dataclass
class ManagedServer:
    kind: str
    base_url: str        # e.g. http://127.0.0.1:PORT/v1
    model: str           # the name the server answers to
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, grace_s: float = 15.0) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(server: ManagedServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise LLMError(f"{server.kind} server exited with code {server.process.returncode} before answering; "
                           f"log {server.log_path}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as resp:
                if resp.status == 200 and json.loads(resp.read()).get("data"):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.25)
    server.stop()
    raise LLMError(f"{server.kind} server at {server.base_url} did not answer within {timeout_s:.0f} s; "
                   f"log {server.log_path}:\n{server.log_tail()}")


def _launch(kind: str, cmd_for_port, model: str, timeout_s: float, log_dir: Path | None,
            attempts: int = 3) -> ManagedServer:
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix=f"sftbench-{kind}-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):  # a port taken between free_port() and bind() is retried on another port
        port = free_port()
        log_path = log_dir / f"{kind}-{port}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd_for_port(port), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        server = ManagedServer(kind, f"http://127.0.0.1:{port}/v1", model, proc, log_path)
        try:
            wait_healthy(server, timeout_s)
            return server
        except LLMError:
            server.stop()
            if attempt + 1 == attempts or "address already in use" not in server.log_tail().lower():
                raise
    raise AssertionError("unreachable")


def start_llamacpp_server(gguf: str | Path, model: str | None = None, ctx_size: int | None = None,
                          threads: int | None = None, extra_args: Sequence[str] = (),
                          startup_timeout_s: float = 180.0, log_dir: Path | None = None) -> ManagedServer:
    """llama-cpp-python's server (`pip install 'llama-cpp-python[server]'`) serving one GGUF file."""
    missing = [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
                           "pydantic_settings") if importlib.util.find_spec(m) is None]
    if missing:
        raise LLMError(f"llama.cpp server needs {', '.join(missing)}: pip install 'llama-cpp-python[server]'")
    gguf = Path(gguf).expanduser()
    if not gguf.is_file():
        raise LLMError(f"GGUF file {gguf} not found")
    alias = model or gguf.stem
    threads = threads or os.cpu_count() or 1

    def cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(ctx_size or 2048), "--n_threads", str(threads),
                "--verbose", "False", *extra_args]
    return _launch("llamacpp", cmd, alias, startup_timeout_s, log_dir)


def start_vllm_server(model_path: str, model: str | None = None, ctx_size: int | None = None,
                      extra_args: Sequence[str] = (), startup_timeout_s: float = 900.0,
                      log_dir: Path | None = None) -> ManagedServer:
    """vLLM's OpenAI-compatible server (GPU; `pip install sftbench[vllm]`)."""
    if importlib.util.find_spec("vllm") is None:
        raise LLMError("provider 'vllm_server' needs vLLM (pip install 'sftbench[vllm]', on a machine with a GPU)")
    alias = model or Path(model_path).name

    def cmd(port: int) -> list[str]:
        args = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_path),
                "--served-model-name", alias, "--host", "127.0.0.1", "--port", str(port), "--max-logprobs", "20"]
        if ctx_size:
            args += ["--max-model-len", str(ctx_size)]
        return args + list(extra_args)
    return _launch("vllm", cmd, alias, startup_timeout_s, log_dir)


@contextmanager
def managed_server(cfg: LLMRoleConfig, log_dir: Path | None = None) -> Iterator[ManagedServer]:
    """Start the server a `llamacpp_server` / `vllm_server` config asks for; stop it on exit."""
    if cfg.provider == "llamacpp_server":
        server = start_llamacpp_server(cfg.resolved_model_path(), cfg.model, cfg.ctx_size, cfg.threads,
                                       cfg.server_args, cfg.startup_timeout_s, log_dir)
    elif cfg.provider == "vllm_server":
        server = start_vllm_server(cfg.model_path, cfg.model, cfg.ctx_size, cfg.server_args,
                                   max(cfg.startup_timeout_s, 900.0), log_dir)
    else:
        raise LLMError(f"provider '{cfg.provider}' is not a managed server")
    try:
        yield server
    finally:
        server.stop()


def _server_key(cfg: LLMRoleConfig) -> tuple:
    return (cfg.provider, str(cfg.resolved_model_path()), cfg.model, cfg.ctx_size, cfg.threads,
            tuple(cfg.server_args))


@contextmanager
def managed_endpoints(configs: Mapping[str, LLMRoleConfig],
                      log_dir: Path | None = None) -> Iterator[dict[str, LLMRoleConfig]]:
    """Start one server per distinct managed config; yield the configs with `base_url` and `model` filled in.

    Configs of other providers, and managed ones that already carry a base_url, pass through unchanged.
    Every server started here is stopped on exit, also on errors.
    """
    out: dict[str, LLMRoleConfig] = {}
    started: dict[tuple, ManagedServer] = {}
    with ExitStack() as stack:
        for name, cfg in configs.items():
            if cfg.provider not in ("llamacpp_server", "vllm_server") or cfg.base_url:
                out[name] = cfg
                continue
            key = _server_key(cfg)
            if key not in started:
                started[key] = stack.enter_context(managed_server(cfg, log_dir))
            server = started[key]
            out[name] = cfg.model_copy(update={"base_url": server.base_url, "model": server.model})
        yield out


__all__ = ["ManagedServer", "free_port", "start_llamacpp_server", "start_vllm_server", "managed_server",
           "managed_endpoints", "wait_healthy"]

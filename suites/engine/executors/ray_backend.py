"""Steps as Ray tasks on a cluster (`--executor ray [--address ADDR]`; with no address a local Ray instance is
started and stopped afterwards). Each task gets the resources its step kind declares (a train step the GPUs of
its recipe's `gpus_per_run`, or as many CPU processes on a CPU-only cluster; generation and OpenLLM one GPU;
the rest one CPU), runs the step from its JSON record and the store, and is retried elsewhere when its worker or
node dies (training resumes from its checkpoint in the store). Every node must see the store at the same path: a
probe task on every node checks that before anything runs.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from sftbench.suites.engine.executors.dag import Outcome
from sftbench.suites.engine.step import Step, step_resources

TASK_RETRIES = 3  # a task whose worker or node died runs again (on another node when one is left)


def _probe(path: str) -> tuple[str, bool]:
    import socket
    return socket.gethostname(), Path(path).is_file()


def _run(step_json: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    import ray

    from sftbench.suites.engine.executors.worker import execute
    node = ray.get_runtime_context().get_node_id()[:8]
    return execute(step_json, {**settings, "where": f"node {node}"}, log=True)


class RayBackend:
    def __init__(self, settings: dict[str, Any], address: str | None, say: Any):
        try:
            import ray
        except ImportError:
            raise RuntimeError("--executor ray needs Ray: pip install -e '.[ray]'") from None
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self.ray, self.settings, self.started = ray, settings, address is None
        context = ray.init(address=address, include_dashboard=None, log_to_driver=False, ignore_reinit_error=True,
                           runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0",
                                                     "SFTBENCH_STORE": settings["store"]}})
        dashboard = getattr(context, "dashboard_url", None)
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        say(f"Ray: {len(nodes)} node(s), {int(resources.get('CPU', 0))} CPUs, {self.gpus} GPUs"
            + (f"; dashboard http://{dashboard}" if dashboard else ""))
        self._check_store(nodes)
        self.task = ray.remote(_run)
        self.running: dict[Any, Step] = {}

    def _check_store(self, nodes: list[dict]) -> None:
        """Every node must read and write the store at the same path (a shared filesystem)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        store = Path(self.settings["store"])
        store.mkdir(parents=True, exist_ok=True)
        marker = store / f".probe-{uuid.uuid4().hex}"
        marker.write_text("sftbench store probe\n")
        try:
            probe = self.ray.remote(num_cpus=0)(_probe)
            refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                    .remote(str(marker)) for n in nodes]
            blind = [host for host, seen in self.ray.get(refs, timeout=120) if not seen]
        finally:
            marker.unlink(missing_ok=True)
        if blind:
            raise RuntimeError(f"Ray node(s) {', '.join(sorted(set(blind)))} cannot see the store {store}: every node "
                               "must mount it at the same path (a shared filesystem), or point --store / "
                               "SFTBENCH_STORE at one that they all see")

    def submit(self, step: Step) -> Any:
        res = step_resources(step, gpus_available=self.gpus > 0)
        ref = self.task.options(num_cpus=res.get("num_cpus", 1), num_gpus=res.get("num_gpus", 0),
                                max_retries=TASK_RETRIES, retry_exceptions=False,
                                name=step.key.dirname).remote(step.to_json(), self.settings)
        self.running[ref] = step
        return ref

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, Outcome]]:
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        if ready:  # everything that finished meanwhile, not just the first
            ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)
        out = []
        for ref in ready:
            step = self.running.pop(ref)
            try:
                out.append((ref, Outcome(**self.ray.get(ref))))
            except Exception as exc:  # noqa: BLE001 - the task died TASK_RETRIES + 1 times
                out.append((ref, Outcome(False, error=f"its Ray task failed {TASK_RETRIES + 1} times "
                                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:300]})", code=1,
                                         log=str(Path(self.settings["store"]) / ".logs" / f"{step.key.dirname}.log"))))
        return out

    def slots(self) -> int:
        return 1 << 30  # Ray queues tasks until their resources are free

    def where(self, handle: Any) -> str:
        """The node a running task is on, when Ray's state API answers (a dashboard-less cluster: "ray")."""
        try:
            from ray.util.state import get_task
            task = get_task(handle.task_id().hex(), timeout=2)
            node = getattr(task, "node_id", None) if task is not None else None
            return f"node {node[:8]}" if node else "ray (queued)"
        except Exception:  # noqa: BLE001 - no state API here: the node is reported when the step ends
            return "ray"

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()

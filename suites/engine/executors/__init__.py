"""Executors of a plan's DAG: in this process, a pool of local processes, or a Ray cluster."""

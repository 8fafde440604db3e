"""Prometheus metrics, the /metrics endpoint and the event-loop lag monitor.

This package imports nothing heavy on purpose: `observability.multiprocess` must be importable
by the CLI before prometheus_client is loaded (see that module and `observability.metrics`).
"""

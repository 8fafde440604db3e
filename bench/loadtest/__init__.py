"""Dashcam load test: driving sessions and report readers against a running Roadhazard service.

Run it as `.venv/bin/python bench/loadtest` (see `main.py` for the options, and the "Load test"
section of docs/performance.md for what it measures and a recorded run).

| module | what it holds |
| --- | --- |
| `__main__.py` | the entry point: puts `bench/` on `sys.path` and calls `main.main` |
| `main.py` | options, the run (service, traffic, sampler, progress), the exit status |
| `service.py` | `roadhazard serve` as a subprocess with its own data directory; its stop |
| `procfs.py` | the service's process tree, its resident memory and CPU time, from `/proc` |
| `traffic.py` | the open-loop schedule, the recorded HTTP call, the report reader |
| `dashcam.py` | a dashcam: its route and GPS fixes, multipart frames, its sessions |
| `recorder.py` | the request budget, per-endpoint outcomes and latencies, RSS samples, progress |
| `report.py` | the tables, the verdicts and the summary (also what `--json` prints) |

It reuses the `throughput` package beside it (free port, percentiles, images, progress lines).
"""

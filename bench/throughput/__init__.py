"""The pieces of bench/detect_throughput.py: inputs, measurement, server, probe, load, report."""

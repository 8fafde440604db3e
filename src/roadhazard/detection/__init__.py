"""Hazard detection: model runtimes, Ultralytics output layouts, pre- and post-processing."""

"""Scan coverage: where sessions drove and when (scanned cells), and each session's track."""

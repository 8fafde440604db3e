"""Liveness (/health), readiness (/ready) and the registry of readiness checks."""

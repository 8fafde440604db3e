"""API keys and roles: who may read, report, and change or delete."""

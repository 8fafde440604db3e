"""The triage dashboard at /dashboard: a map, a list, details and actions over the reports API,
served as static files from the package (plain ES modules, no build step)."""

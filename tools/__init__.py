"""Developer tooling for Roadhazard: synthetic data and model training (not shipped)."""

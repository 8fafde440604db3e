"""Training, export and evaluation of the bundled demo detector (needs torch; dev only)."""

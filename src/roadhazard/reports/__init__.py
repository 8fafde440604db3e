"""Hazard reports: storage and indexes, the state machine, de-duplication and stats."""

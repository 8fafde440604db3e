"""Driving sessions: frames in, detections tracked across frames, one report per hazard."""

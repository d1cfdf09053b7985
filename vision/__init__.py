"""Detectors, tracking, zones and rules: sampled frames in, event candidates out (no HTTP, no SQL)."""

"""Benchmarks that measure citywall against a naive baseline run in the same process, and print the ratios.

A ratio measured on one machine in one run says more than an absolute figure copied from another machine:
both sides share the CPU, the FFmpeg build and the streams. ``python -m bench`` runs them all; each module is
also runnable on its own (``python -m bench.ingest --help``).
"""

"""Benchmarks against a textbook loop: speed (`python -m ganrun.bench`) and sample quality (`--quality`)."""

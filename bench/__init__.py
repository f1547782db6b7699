"""Benchmarks of the issue "Production backends and scale-out": `python -m bench` (see __main__)."""

"""Benchmarks of the campaign engine: ingest, dispatch, pacing, their ceilings and naive baselines.

Each runnable module (`python -m bench.ingest`, `bench.dispatch`, `bench.pacing`) starts its own
stack on loopback, prints a table of numbers and tears everything down. See BENCHMARKS.md.
"""

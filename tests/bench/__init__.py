"""Benchmarks: they print figures and write them under tests/bench/results/; not tests."""

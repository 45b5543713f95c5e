"""Prototypes measured and not adopted: kept with the benchmarks and tests that built them,
out of the package operators install (docs/engines.md)."""

"""Test helpers and sample generators shared by the tests, benchmarks and fuzz targets."""

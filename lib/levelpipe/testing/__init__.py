"""Generators of test inputs and bundled samples (simulators); never used by the pipeline itself."""

"""What tests, benchmarks and sample builders use but the pipeline never runs: simulators of
raw formats, the IDL save writer, the ASI lens-model skymap generator, recorded HTTP servers."""

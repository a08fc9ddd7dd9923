# cargo-fuzz targets over core's parsers (not part of `make test` or CI): fuzz/README.md.
# `make fuzz FUZZ_SECONDS=300` fuzzes each target longer.
FUZZ_SECONDS ?= 30

.PHONY: fuzz
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run

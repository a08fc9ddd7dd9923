//! Test harness: run the built tools against the real kernel.

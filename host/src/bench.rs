//! Benchmarks (placeholder until written).

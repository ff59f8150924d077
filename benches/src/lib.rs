//! Shared helpers for the benchmarks of mcp-wrapper-rs.

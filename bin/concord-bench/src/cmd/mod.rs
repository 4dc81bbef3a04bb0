//! One module per benchmark.

pub mod gas;
pub mod throughput;

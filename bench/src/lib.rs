//! The benchmark: one data set with a fixed seed, several engines built from the same
//! facts, one query stream, and the measurements the report is made of.
//!
//! Every engine answers every query of the stream; the runner fails when any two disagree.

pub mod alloc;
pub mod data;
pub mod engines;
pub mod measure;
pub mod sql;

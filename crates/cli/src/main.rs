//! The `portcullis` binary (placeholder until the CLI work lands).
fn main() {}

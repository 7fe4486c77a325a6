//! The engines under comparison, each built from the same [`Shape`](crate::data::Shape).

#[cfg(feature = "casbin")]
pub mod casbin_rbac;
#[cfg(feature = "cedar")]
pub mod cedar;
pub mod dense;
pub mod hashfloor;
pub mod portcullis;

use crate::data::Query;

/// One way to answer the query stream.
pub trait Engine {
    fn check(&self, index: usize, query: &Query) -> bool;
}

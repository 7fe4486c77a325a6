//! The check API: decisions about any principal for platform services, and a caller's own
//! effective permissions. (Filled in by the check-API work.)

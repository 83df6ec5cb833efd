//! The C ABI: the only place with raw pointers. Each function checks its
//! arguments, calls into [`crate::core`], converts the result, and never lets
//! a panic cross into C.
#![allow(non_camel_case_types)]
// Each exported function's safety contract is its C documentation (what
// the header says about its pointers), not a Rust `# Safety` section.
#![allow(clippy::missing_safety_doc)]

#[macro_use]
mod macros;
pub mod diff;
pub mod discover;
pub mod error;
pub mod handout;
pub mod lookup;
pub mod notify;
pub mod options;
pub mod portfolio;
mod registry;
pub mod version;
pub mod watcher;

pub use diff::*;
pub use discover::*;
pub use error::*;
pub use lookup::*;
pub use notify::*;
pub use options::*;
pub use portfolio::*;
pub use version::*;
pub use watcher::*;

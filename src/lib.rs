//! libwhalewatcher: an always-current, in-memory picture of the alive
//! containers of a container engine, for C, C++ and Go (cgo) programs.
//!
//! [`core`] is the pure-Rust tracker and watcher; [`ffi`] is the C ABI over it
//! and the only place with raw pointers.
#![deny(unsafe_op_in_unsafe_fn)]

/// cbindgen:ignore
pub mod core;
pub mod ffi;

//! The library version at run time.

use std::ffi::c_char;

/// The library version, e.g. "0.1.0": static, never NULL, any thread.
#[no_mangle]
pub extern "C" fn ww_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

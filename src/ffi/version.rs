//! The library version, at compile time (header macros) and at run time.
//! tests/packaging.rs keeps these, and `WW_VERSION_STRING` (in cbindgen.toml,
//! as cbindgen emits no string constants), equal to Cargo.toml and the SONAME.

use std::ffi::c_char;

/// Major version of the library.
pub const WW_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const WW_VERSION_MINOR: u32 = 2;
/// Patch version of the library.
pub const WW_VERSION_PATCH: u32 = 0;
/// The ABI version: the N of the shared object's SONAME `libwhalewatcher.so.N`.
/// It changes whenever an existing function, type or field changes or goes.
pub const WW_ABI_VERSION: u32 = 2;

/// The library version, e.g. "0.1.0": static, never NULL, any thread.
#[no_mangle]
pub extern "C" fn ww_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version of the library actually loaded (`WW_ABI_VERSION` of the
/// header it was built with); compare it with the header's `WW_ABI_VERSION`.
/// Any thread.
#[no_mangle]
pub extern "C" fn ww_abi_version() -> u32 {
    WW_ABI_VERSION
}

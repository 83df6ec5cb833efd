//! Gives the shared object its SONAME, `libwhalewatcher.so.N` with N the ABI
//! version (`WW_ABI_VERSION` in src/ffi/version.rs; tests/packaging.rs
//! checks they agree).

const ABI_VERSION: u32 = 2;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwhalewatcher.so.{ABI_VERSION}");
    println!("cargo:rerun-if-changed=build.rs");
}

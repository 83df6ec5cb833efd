//! The panic boundary every exported function runs its body in.

/// Runs `$body`; a panic becomes `$on_panic`, with the panic's message as
/// this thread's last error.
macro_rules! ffi_boundary {
    ($on_panic:expr, $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(panic) => {
                $crate::ffi::error::set_last_error(format!("panic: {}", $crate::core::watcher::panic_message(&*panic)));
                $on_panic
            }
        }
    };
}

/// Returns `WW_STATUS_NULL_ARG` from the enclosing function when `$p` is NULL.
macro_rules! non_null {
    ($p:expr, $name:literal, $func:literal) => {
        if $p.is_null() {
            return $crate::ffi::error::fail(
                $crate::ffi::error::WW_STATUS_NULL_ARG,
                concat!($func, ": ", $name, " is NULL"),
            );
        }
    };
}

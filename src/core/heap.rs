//! Handing freed memory back to the system after a full list: parsing an
//! engine's list of thousands of containers leaves megabytes of freed
//! memory among the records that stay, which the allocator keeps for the
//! process unless told otherwise. After a large synchronisation the
//! tracker first moves its records out of that memory
//! ([`super::tracker::Tracker::compact`]), so that it is free as a whole.
//! The C layer registers how to give it back (glibc's `malloc_trim`); the
//! watch loop says when: after a synchronisation or an audit whose list
//! had [`LARGE_LIST`] containers or more, once it is published, never per
//! event. Giving back costs in proportion to the whole process's heap, so
//! small lists, whose garbage is small, are not worth it.

use once_cell::sync::OnceCell;

static GIVE_BACK: OnceCell<fn()> = OnceCell::new();

/// The number of containers from which a list's freed memory is handed back.
pub const LARGE_LIST: usize = 1000;

/// Registers `give_back` (once per process; later calls change nothing).
pub fn register(give_back: fn()) {
    let _ = GIVE_BACK.set(give_back);
}

/// A full list was taken in and its memory freed: hands it back, if a way
/// to do so is registered.
pub fn listed() {
    if let Some(give_back) = GIVE_BACK.get() {
        give_back();
    }
}

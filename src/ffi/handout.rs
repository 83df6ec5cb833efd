//! Snapshots handed to C. What `ww_snapshot` returns is a [`Handout`]: a
//! copy of the view's `ww_portfolio` header with a reference count of its
//! own, in front of the shared view. Each thread keeps the handout of the
//! generation it last took, per watcher: taking the same generation again
//! reads one shared counter (the watcher's generation) and counts on the
//! thread's own handout, so threads taking and freeing snapshots at once do
//! not write to shared memory, and the cost per call stays that of one
//! thread however many there are.
//!
//! A thread's handout keeps that generation's view alive until the thread
//! takes a newer one of that watcher, takes one of any watcher after this
//! watcher was closed, or exits.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crate::core::shared::Shared;

use super::portfolio::{ww_portfolio, PortfolioOwner};

/// One handout: `public` comes first, so a pointer to it is a pointer to the
/// `ww_portfolio` the caller sees.
#[repr(C)]
pub struct Handout {
    public: ww_portfolio,
    /// [`LIVE`] while it lives, [`FREED`] once dropped: a freed or a foreign
    /// pointer handed back is told from a snapshot (where the memory still
    /// tells).
    tag: AtomicU64,
    /// [`CALLER`] per reference a caller holds, plus [`CACHED`] while a
    /// thread's cache holds it. Counted apart, so that a caller freeing
    /// more than it took is told even while the cache keeps it alive.
    refs: AtomicUsize,
    owner: Arc<PortfolioOwner>,
}

const CALLER: usize = 2;
const CACHED: usize = 1;

const LIVE: u64 = 0x7777_736e_6170_7368; // "wwsnapsh"
const FREED: u64 = 0x6672_6565_6421_2121;

impl Drop for Handout {
    fn drop(&mut self) {
        self.tag.store(FREED, Ordering::Relaxed);
    }
}

// SAFETY: the header's pointers point into the owner, which the handout
// keeps alive and which never changes; everything else is atomic.
unsafe impl Send for Handout {}
// SAFETY: see Send.
unsafe impl Sync for Handout {}

/// What a pointer handed back as a snapshot is.
#[derive(Debug, PartialEq, Eq)]
pub enum Tagged {
    Live,
    Freed,
    Foreign,
}

fn new_handout(owner: Arc<PortfolioOwner>, cached: bool) -> NonNull<Handout> {
    let refs = CALLER + if cached { CACHED } else { 0 };
    let h = Box::new(Handout {
        public: *owner.portfolio(),
        tag: AtomicU64::new(LIVE),
        refs: AtomicUsize::new(refs),
        owner,
    });
    NonNull::from(Box::leak(h))
}

/// Drops reference `kind` ([`CALLER`] or [`CACHED`]) to `h`, and `h` with
/// the last one. Err when no caller reference was left to drop.
///
/// # Safety
/// `h` is a live handout; a cache drops only the reference it owns.
unsafe fn unref(h: NonNull<Handout>, kind: usize) -> Result<(), DoubleFree> {
    // SAFETY: live handout (contract).
    let before = unsafe { h.as_ref() }.refs.fetch_sub(kind, Ordering::AcqRel);
    if before < kind {
        return Err(DoubleFree);
    }
    if before == kind {
        // SAFETY: that was the last reference: nobody else can reach it.
        drop(unsafe { Box::from_raw(h.as_ptr()) });
    }
    Ok(())
}

/// A caller released a snapshot more often than it took it.
#[derive(Debug)]
pub struct DoubleFree;

/// Hands out `owner` by itself, with one reference (not cached).
pub fn hand_out(owner: Arc<PortfolioOwner>) -> *const ww_portfolio {
    new_handout(owner, false).as_ptr().cast_const().cast()
}

/// One watcher's entry in a thread's cache. It holds one reference to its
/// handout.
struct Slot {
    watcher: u64,
    shared: Weak<Shared<PortfolioOwner>>,
    handout: NonNull<Handout>,
}

/// A thread's handouts, released when the thread exits.
#[derive(Default)]
struct Cache(Vec<Slot>);

impl Drop for Cache {
    fn drop(&mut self) {
        for s in self.0.drain(..) {
            // SAFETY: the slot owns the cache's reference to its live handout.
            let _ = unsafe { unref(s.handout, CACHED) };
        }
    }
}

/// How many watchers a thread keeps a handout of.
const CACHED_WATCHERS: usize = 8;

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The current snapshot of watcher `watcher` (its unique number) whose
/// state is `shared`, with one reference for the caller.
pub fn current(watcher: u64, shared: &Arc<Shared<PortfolioOwner>>) -> *const ww_portfolio {
    let generation = shared.published();
    let cached = CACHE.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else { return None };
        if let Some(s) = cache.0.iter().find(|s| s.watcher == watcher) {
            // SAFETY: the slot owns a reference, so the handout lives.
            let h = unsafe { s.handout.as_ref() };
            if h.public.generation == generation {
                h.refs.fetch_add(CALLER, Ordering::Relaxed);
                return Some(s.handout);
            }
        }
        // A newer generation (or none cached): one handout for this thread,
        // held by the cache and the caller.
        let handout = new_handout(shared.current(), true);
        let slot = Slot { watcher, shared: Arc::downgrade(shared), handout };
        let old = match cache.0.iter().position(|s| s.watcher == watcher) {
            Some(i) => Some(std::mem::replace(&mut cache.0[i], slot)),
            None => {
                cache.0.push(slot);
                None
            }
        };
        // Watchers closed since let go, and beyond the bound the oldest.
        let mut gone: Vec<Slot> = old.into_iter().collect();
        let (dead, live): (Vec<Slot>, Vec<Slot>) = cache.0.drain(..).partition(|s| s.shared.strong_count() == 0);
        cache.0 = live;
        gone.extend(dead);
        while cache.0.len() > CACHED_WATCHERS {
            gone.push(cache.0.remove(0));
        }
        drop(cache);
        for s in gone {
            // SAFETY: each slot owned the cache's reference to its live handout.
            let _ = unsafe { unref(s.handout, CACHED) };
        }
        Some(handout)
    });
    match cached.ok().flatten() {
        Some(h) => h.as_ptr().cast_const().cast(),
        // The thread is exiting (its cache is gone) or re-entered: no cache.
        None => hand_out(shared.current()),
    }
}

/// What `p` points to, by the handout's tag: a live snapshot, a freed one,
/// or something else.
///
/// # Safety
/// `p` came from this module (then the answer is exact while it lives), or
/// is a misused pointer the caller handed in: then reading the tag is what
/// detects the misuse where the memory still tells.
pub unsafe fn tagged(p: *const ww_portfolio) -> Tagged {
    // SAFETY: see the function's contract; the tag follows the public struct.
    match unsafe { (*p.cast::<Handout>()).tag.load(Ordering::Relaxed) } {
        LIVE => Tagged::Live,
        FREED => Tagged::Freed,
        _ => Tagged::Foreign,
    }
}

/// Releases a reference handed out by this module. Err when the caller
/// holds none (it freed this snapshot before), told while the handout is
/// still alive.
///
/// # Safety
/// `p` is a live handout from this module.
pub unsafe fn release(p: *const ww_portfolio) -> Result<(), DoubleFree> {
    // SAFETY: a live handout (contract).
    unsafe { unref(NonNull::new_unchecked(p.cast_mut().cast::<Handout>()), CALLER) }
}

/// The view behind a snapshot handed out by this module, borrowed.
///
/// # Safety
/// `p` came from this module and is not released while the result is used.
pub unsafe fn owner<'a>(p: *const ww_portfolio) -> &'a PortfolioOwner {
    // SAFETY: `public` is the first field of the repr(C) handout; the caller
    // keeps it alive.
    unsafe { &(*p.cast::<Handout>()).owner }
}

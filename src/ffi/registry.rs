//! The arrays handed to C that C hands back to be freed (`ww_diff`'s and
//! `ww_discover`'s): which are live, and which were freed lately, so that
//! a double free or a foreign pointer is told apart from a live array,
//! whatever the allocator did with the memory meanwhile, and the process
//! aborted with a message instead of memory corrupted.

use super::watcher::abort_with;
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use once_cell::sync::Lazy;

#[derive(Default)]
struct Registry {
    live: HashMap<usize, Box<dyn Any + Send>>,
    freed: VecDeque<usize>,
}

/// How many freed addresses are remembered to name a double free as such.
const FREED_REMEMBERED: usize = 256;

static REGISTRY: Lazy<Mutex<Registry>> = Lazy::new(Mutex::default);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps `owner` alive under the address `at` that C was given.
pub fn hand_out(at: usize, owner: Box<dyn Any + Send>) {
    registry().live.insert(at, owner);
}

/// Takes back what was handed out at `at`, for dropping. A double free or
/// an address never handed out aborts the process with a message naming
/// `func` and `what`.
pub fn take_back(at: usize, func: &str, what: &str) -> Box<dyn Any + Send> {
    let mut reg = registry();
    match reg.live.remove(&at) {
        Some(owner) => {
            if reg.freed.len() == FREED_REMEMBERED {
                reg.freed.pop_front();
            }
            reg.freed.push_back(at);
            owner
        }
        None => {
            let double = reg.freed.contains(&at);
            drop(reg);
            if double {
                abort_with(&format!("{func}: double free of {what}"))
            } else {
                abort_with(&format!("{func}: not {what}"))
            }
        }
    }
}

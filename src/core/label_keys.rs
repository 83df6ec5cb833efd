//! The label keys of records, held once per distinct list: the containers
//! of a compose project, of a Kubernetes pod or of one image carry the same
//! keys (often a few hundred bytes of them), so records with the same keys
//! share one [`LabelKeys`] instead of each holding a copy.
//!
//! Lists are interned process-wide while a record uses them: the table
//! holds them weakly and forgets the unused ones as it grows. It is never
//! held across a fork (see [`super::forkguard`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

/// The keys of a record's labels, in order, each followed by a NUL (a NUL
/// inside one became U+FFFD), in one buffer.
#[derive(PartialEq, Eq)]
pub struct LabelKeys {
    buf: Box<str>,
    /// Where each key starts; it ends at the NUL before the next start.
    starts: Box<[u32]>,
}

impl LabelKeys {
    /// The shared list of `keys`.
    pub fn of<'a>(keys: impl Iterator<Item = &'a str> + Clone) -> Arc<LabelKeys> {
        let (buf, starts) = super::container::joined(keys);
        intern(buf, starts)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True without keys.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Key `i` with its NUL.
    pub fn with_nul(&self, i: usize) -> &str {
        let start = self.starts[i] as usize;
        let end = self.starts.get(i + 1).map_or(self.buf.len(), |&s| s as usize);
        &self.buf[start..end]
    }

    /// Key `i`, without its NUL.
    pub fn get(&self, i: usize) -> &str {
        let k = self.with_nul(i);
        &k[..k.len() - 1]
    }
}

/// The lists in use, by their buffer.
struct Table {
    lists: HashMap<Box<str>, Weak<LabelKeys>>,
    /// The size at which unused lists are forgotten next.
    purge_at: usize,
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(Table { lists: HashMap::new(), purge_at: 64 }))
}

fn intern(buf: Box<str>, starts: Box<[u32]>) -> Arc<LabelKeys> {
    // The table is the process's: a child forked while a watcher's thread
    // held it must not inherit it locked (its own watchers intern too).
    super::forkguard::publishing(|| intern_held(buf, starts))
}

fn intern_held(buf: Box<str>, starts: Box<[u32]>) -> Arc<LabelKeys> {
    let mut t = table().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(keys) = t.lists.get(&*buf).and_then(Weak::upgrade) {
        return keys;
    }
    if t.lists.len() >= t.purge_at {
        t.lists.retain(|_, w| w.strong_count() > 0);
        t.purge_at = (2 * t.lists.len()).max(64);
    }
    let keys = Arc::new(LabelKeys { buf: buf.clone(), starts });
    t.lists.insert(buf, Arc::downgrade(&keys));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_keys_share_one_list_while_it_is_used() {
        let a = LabelKeys::of(["com.example.a", "x\0y", ""].into_iter());
        let b = LabelKeys::of(["com.example.a", "x\0y", ""].into_iter());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!((a.len(), a.get(0), a.get(1), a.get(2)), (3, "com.example.a", "x\u{FFFD}y", ""));
        assert_eq!(a.with_nul(2), "\0");
        let other = LabelKeys::of(["com.example.a"].into_iter());
        assert!(!Arc::ptr_eq(&a, &other));
        let none = LabelKeys::of(std::iter::empty());
        assert!(none.is_empty());
    }

    #[test]
    fn unused_lists_are_forgotten() {
        // Many short-lived distinct lists: the table does not keep them.
        for i in 0..1000 {
            let k = format!("unused-{i}");
            drop(LabelKeys::of([k.as_str()].into_iter()));
        }
        let kept = LabelKeys::of(["kept"].into_iter());
        for i in 0..1000 {
            let k = format!("unused-again-{i}");
            drop(LabelKeys::of([k.as_str()].into_iter()));
        }
        assert!(Arc::ptr_eq(&kept, &LabelKeys::of(["kept"].into_iter())));
        // Other tests' lists share the table; 2000 were made here.
        let n = table().lock().unwrap().lists.len();
        assert!(n < 500, "{n} lists kept");
    }
}

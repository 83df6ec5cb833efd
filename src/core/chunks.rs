//! An ordered sequence of containers kept in chunks that the generations of
//! a set share: a new generation with a few changes makes new chunks only
//! where they are, and takes the other chunks over with one reference each,
//! so its cost does not grow with the containers it does not touch.

use std::sync::Arc;

use super::model::Container;

/// The size chunks are made in; edited ones may grow to twice that before
/// they are split.
const CHUNK: usize = 64;

type Chunk = Arc<[Arc<Container>]>;

/// Containers in order, in shared chunks.
#[derive(Clone, Debug, Default)]
pub struct Containers {
    chunks: Vec<Chunk>,
    /// Where each chunk starts, and the length at the end.
    starts: Vec<usize>,
}

/// One edit of a sequence: at position `at` of the old one, drop the
/// container there (`None`) or put a new one before it.
pub type Edit<'a> = (usize, Option<&'a Arc<Container>>);

impl Containers {
    /// The sequence of `all`, in that order.
    pub fn from_vec(all: Vec<Arc<Container>>) -> Containers {
        let chunks: Vec<Chunk> = all.chunks(CHUNK).map(Chunk::from).collect();
        Containers::of(chunks)
    }

    fn of(chunks: Vec<Chunk>) -> Containers {
        let mut starts = Vec::with_capacity(chunks.len() + 1);
        let mut at = 0;
        for c in &chunks {
            starts.push(at);
            at += c.len();
        }
        starts.push(at);
        Containers { chunks, starts }
    }

    pub fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunk holding position `i` (`i` < len).
    fn chunk_of(&self, i: usize) -> usize {
        self.starts.partition_point(|&s| s <= i) - 1
    }

    /// The container at position `i`. Panics beyond the end.
    pub fn get(&self, i: usize) -> &Arc<Container> {
        let k = self.chunk_of(i);
        &self.chunks[k][i - self.starts[k]]
    }

    /// All containers, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Container>> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The containers at positions `range`, in order.
    pub fn range(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &Arc<Container>> + '_ {
        let first = if range.start < self.len() { self.chunk_of(range.start) } else { self.chunks.len() };
        let skip = range.start - self.starts.get(first).copied().unwrap_or(range.start);
        self.chunks[first..].iter().flat_map(|c| c.iter()).skip(skip).take(range.len())
    }

    /// The chunks, each with its first position.
    pub fn chunks(&self) -> impl Iterator<Item = (usize, &[Arc<Container>])> + '_ {
        self.starts.iter().zip(&self.chunks).map(|(&s, c)| (s, &c[..]))
    }

    /// True when chunk `k` of `self` and chunk `j` of `other` are the same.
    pub fn same_chunk(&self, k: usize, other: &Containers, j: usize) -> bool {
        Arc::ptr_eq(&self.chunks[k], &other.chunks[j])
    }

    /// The number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The first position where `pred` is false (`pred` true for a prefix).
    pub fn partition_point(&self, pred: impl Fn(&Arc<Container>) -> bool) -> usize {
        // The first chunk whose last container fails, then within it.
        let k = self.chunks.partition_point(|c| c.last().is_some_and(&pred));
        match self.chunks.get(k) {
            Some(c) => self.starts[k] + c.partition_point(pred),
            None => self.len(),
        }
    }

    /// This sequence with `edits` made, sorted by position (at one
    /// position: the drop first, then the new containers in order). Chunks
    /// without an edit are shared.
    pub fn edited(&self, edits: &[Edit]) -> Containers {
        let mut chunks: Vec<Chunk> = Vec::with_capacity(self.chunks.len() + 1);
        let mut e = edits.iter().peekable();
        for (k, chunk) in self.chunks.iter().enumerate() {
            let (start, end) = (self.starts[k], self.starts[k + 1]);
            // Edits at the very end belong to the last chunk.
            let last = k + 1 == self.chunks.len();
            if e.peek().is_none_or(|&&(at, _)| at >= end && !last) {
                chunks.push(Arc::clone(chunk));
                continue;
            }
            let mut out: Vec<Arc<Container>> = Vec::with_capacity(chunk.len() + 4);
            let mut from = start;
            while let Some(&&(at, new)) = e.peek() {
                if at >= end && !last {
                    break;
                }
                e.next();
                let upto = at.max(from);
                out.extend_from_slice(&chunk[from - start..upto - start]);
                match new {
                    Some(c) => {
                        out.push(Arc::clone(c));
                        from = upto;
                    }
                    None => from = at + 1,
                }
            }
            out.extend_from_slice(&chunk[from.min(end) - start..]);
            if out.len() > 2 * CHUNK {
                chunks.extend(out.chunks(CHUNK).map(Chunk::from));
            } else if !out.is_empty() {
                chunks.push(Chunk::from(out));
            }
        }
        if self.chunks.is_empty() {
            let all: Vec<Arc<Container>> = edits.iter().filter_map(|&(_, c)| c.cloned()).collect();
            return Containers::from_vec(all);
        }
        let seq = Containers::of(chunks);
        // Many small chunks (after many deaths): made afresh, now and then.
        if seq.chunks.len() > 2 * seq.len().div_ceil(CHUNK) + 4 {
            return Containers::from_vec(seq.iter().cloned().collect());
        }
        seq
    }
}

/// What a walk over two sorted sequences finds, at positions of the first
/// (`from`) and the second (`to`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The same records (the same allocations) at `from..from + len` and
    /// `to..to + len`.
    Shared { from: usize, to: usize, len: usize },
    /// A record only `from` has at its place in the order.
    OnlyFrom(usize),
    /// A record only `to` has at its place in the order.
    OnlyTo(usize),
    /// Different records with the same key.
    Both(usize, usize),
}

/// Walks `from` and `to`, both in snapshot order (by
/// [`Container::sort_key`]), in step: chunks both share are passed in one
/// step, and records are only compared where they differ.
pub fn walk(from: &Containers, to: &Containers, mut step: impl FnMut(Step)) {
    let (mut fk, mut fo, mut tk, mut to_) = (0, 0, 0, 0);
    while fk < from.chunks.len() && tk < to.chunks.len() {
        let (fc, tc) = (&from.chunks[fk], &to.chunks[tk]);
        let (fp, tp) = (from.starts[fk] + fo, to.starts[tk] + to_);
        if fo == 0 && to_ == 0 && Arc::ptr_eq(fc, tc) {
            step(Step::Shared { from: fp, to: tp, len: fc.len() });
            fk += 1;
            tk += 1;
            continue;
        }
        let (a, b) = (&fc[fo], &tc[to_]);
        let (mut next_f, mut next_t) = (false, false);
        if Arc::ptr_eq(a, b) {
            step(Step::Shared { from: fp, to: tp, len: 1 });
            (next_f, next_t) = (true, true);
        } else {
            match a.sort_key().cmp(&b.sort_key()) {
                std::cmp::Ordering::Less => {
                    step(Step::OnlyFrom(fp));
                    next_f = true;
                }
                std::cmp::Ordering::Greater => {
                    step(Step::OnlyTo(tp));
                    next_t = true;
                }
                std::cmp::Ordering::Equal => {
                    step(Step::Both(fp, tp));
                    (next_f, next_t) = (true, true);
                }
            }
        }
        if next_f {
            fo += 1;
            if fo == fc.len() {
                (fk, fo) = (fk + 1, 0);
            }
        }
        if next_t {
            to_ += 1;
            if to_ == tc.len() {
                (tk, to_) = (tk + 1, 0);
            }
        }
    }
    let rest_from = from.starts.get(fk).map_or(from.len(), |s| s + fo);
    for p in rest_from..from.len() {
        step(Step::OnlyFrom(p));
    }
    let rest_to = to.starts.get(tk).map_or(to.len(), |s| s + to_);
    for p in rest_to..to.len() {
        step(Step::OnlyTo(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::ContainerDraft;

    fn c(i: usize) -> Arc<Container> {
        Arc::new(ContainerDraft { id: format!("{i:05}"), pid: 1, ..ContainerDraft::default() }.build())
    }

    fn ids(s: &Containers) -> Vec<String> {
        s.iter().map(|c| c.id().to_string()).collect()
    }

    #[test]
    fn a_walk_passes_shared_chunks_at_once_and_finds_every_difference() {
        let base: Vec<Arc<Container>> = (0..300).map(|i| c(2 * i)).collect();
        let s = Containers::from_vec(base);
        let n = c(101);
        let replaced = c(400);
        let t = s.edited(&[(10, None), (51, Some(&n)), (200, None), (200, Some(&replaced))]);
        let mut steps = Vec::new();
        walk(&s, &t, |st| steps.push(st));
        let shared: usize = steps.iter().map(|st| if let Step::Shared { len, .. } = st { *len } else { 0 }).sum();
        assert_eq!(shared, 298);
        assert!(steps.contains(&Step::OnlyFrom(10)));
        assert!(steps.contains(&Step::OnlyTo(50)));
        assert!(steps.contains(&Step::Both(200, 200)));
        assert_eq!(steps.iter().filter(|st| !matches!(st, Step::Shared { .. })).count(), 3);
        // Whole chunks pass in one step.
        assert!(steps.contains(&Step::Shared { from: 64, to: 64, len: 64 }));
        // Against nothing: all on one side.
        let mut only = 0;
        walk(&s, &Containers::default(), |st| {
            assert!(matches!(st, Step::OnlyFrom(_)));
            only += 1;
        });
        assert_eq!(only, 300);
    }

    #[test]
    fn positions_ranges_and_search() {
        let s = Containers::from_vec((0..200).map(c).collect());
        assert_eq!((s.len(), s.chunk_count()), (200, 4));
        assert_eq!(s.get(0).id(), "00000");
        assert_eq!(s.get(64).id(), "00064");
        assert_eq!(s.get(199).id(), "00199");
        let r: Vec<String> = s.range(60..70).map(|c| c.id().to_string()).collect();
        assert_eq!(r.first().map(String::as_str), Some("00060"));
        assert_eq!(r.len(), 10);
        assert_eq!(s.range(200..200).count(), 0);
        assert_eq!(s.range(0..200).count(), 200);
        for probe in [0usize, 1, 63, 64, 65, 150, 199, 200] {
            let key = format!("{probe:05}");
            assert_eq!(s.partition_point(|c| c.id() < key.as_str()), probe);
        }
        assert_eq!(Containers::default().partition_point(|_| true), 0);
    }

    #[test]
    fn edits_keep_order_and_share_untouched_chunks() {
        let base: Vec<Arc<Container>> = (0..300).map(|i| c(2 * i)).collect();
        let s = Containers::from_vec(base.clone());
        let (n1, n2, n3) = (c(1), c(599), c(1000));
        // Drop position 10, insert before 0 and 300 (the end), replace 200.
        let edits = [(0, Some(&n1)), (10, None), (200, None), (200, Some(&n2)), (300, Some(&n3))];
        let t = s.edited(&edits);
        let mut want: Vec<String> = ids(&s);
        want.remove(200);
        want.insert(200, "00599".into());
        want.remove(10);
        want.insert(0, "00001".into());
        want.push("01000".into());
        assert_eq!(ids(&t), want);
        // The chunk without an edit (positions 64..128) is the same.
        assert!((0..t.chunk_count()).any(|k| t.same_chunk(k, &s, 1)));
        assert!(!(0..t.chunk_count()).any(|k| t.same_chunk(k, &s, 0)));
        // An empty sequence takes inserts; everything dropped leaves nothing.
        let e = Containers::default().edited(&[(0, Some(&n1)), (0, Some(&n2))]);
        assert_eq!(ids(&e), ["00001", "00599"]);
        let all: Vec<Edit> = (0..300).map(|i| (i, None)).collect();
        assert!(s.edited(&all).is_empty());
    }
}

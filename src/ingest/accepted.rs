//! Accepted questionnaires held compactly until they are stored, and the exact id
//! tables that find repeated respondent ids.

/// Marks "not answered" in `Accepted::items`, and "none" in the u32 index columns.
pub(crate) const NA_ITEM: u8 = u8::MAX;
pub(crate) const NONE: u32 = u32::MAX;

/// Accepted questionnaires, column by column, compactly (≈ 70 bytes a row): strings
/// that repeat are indices into dictionaries, respondent ids share one buffer, and
/// missing numbers are NaN. Parquet is written from this in chunks.
#[derive(Default)]
pub(crate) struct Accepted {
    pub(crate) n_items: usize,
    pub(crate) line: Vec<u64>,
    pub(crate) id_buf: String,
    pub(crate) id_end: Vec<usize>,
    /// Index into `State::communities` (in a `Part`: into the frame's communities).
    pub(crate) community: Vec<u32>,
    /// yyyymmdd, 0 = no date.
    pub(crate) date: Vec<u32>,
    /// Index into the interviewer dictionary, or NONE.
    pub(crate) interviewer: Vec<u32>,
    /// Index into the mode dictionary, or NONE.
    pub(crate) mode: Vec<u32>,
    /// Seconds, NaN = not given.
    pub(crate) duration: Vec<f64>,
    /// n_items answers per row (position in the scale), NA_ITEM = not answered.
    pub(crate) items: Vec<u8>,
    pub(crate) answered: Vec<u8>,
    /// Respondent score, NaN when nothing was answered.
    pub(crate) score: Vec<f64>,
    /// Present only when the delivery has such a column.
    pub(crate) phone_hash: Vec<Option<String>>,
    pub(crate) name_hash: Vec<Option<String>>,
}

impl Accepted {
    /// Per row: valid under the rules (enough items answered, not too short).
    pub(crate) fn valid(&self, v: &crate::rules::Validity) -> Vec<bool> {
        self.answered
            .iter()
            .zip(&self.duration)
            .map(|(a, d)| v.valid(*a, *d))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.line.len()
    }

    pub(crate) fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.id_end[i - 1] };
        &self.id_buf[start..self.id_end[i]]
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.line.reserve(rows);
        self.id_end.reserve(rows);
        self.id_buf.reserve(rows * 8);
        self.community.reserve(rows);
        self.date.reserve(rows);
        self.interviewer.reserve(rows);
        self.mode.reserve(rows);
        self.duration.reserve(rows);
        self.items.reserve(rows * self.n_items);
        self.answered.reserve(rows);
        self.score.reserve(rows);
    }
}

/// The hash of a respondent id in the id tables (the tables compare the ids
/// themselves, so a hash collision never makes two different ids equal).
pub(crate) fn id_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// A set of respondent ids in one buffer, exact (compares ids, not only hashes).
#[derive(Default)]
pub(crate) struct IdSet {
    pub(crate) buf: String,
    pub(crate) end: Vec<usize>,
    pub(crate) table: hashbrown::HashTable<u32>,
}

impl IdSet {
    pub(crate) fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.end[i - 1] };
        &self.buf[start..self.end[i]]
    }

    pub(crate) fn insert(&mut self, id: &str) {
        let h = id_hash(id);
        if self.contains(h, id) {
            return;
        }
        let i = self.end.len() as u32;
        self.buf.push_str(id);
        self.end.push(self.buf.len());
        let (buf, end) = (&self.buf, &self.end);
        let get = |i: u32| {
            let i = i as usize;
            &buf[if i == 0 { 0 } else { end[i - 1] }..end[i]]
        };
        self.table.insert_unique(h, i, |&j| id_hash(get(j)));
    }

    pub(crate) fn contains(&self, hash: u64, id: &str) -> bool {
        self.table.find(hash, |&j| self.get(j) == id).is_some()
    }
}

/// Repeated strings (interviewers, modes) by index.
#[derive(Default)]
pub(crate) struct Dict {
    pub(crate) index: rustc_hash::FxHashMap<String, u32>,
    pub(crate) names: Vec<String>,
}

impl Dict {
    /// The index of `s`, adding it when new.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.index.insert(s.to_string(), i);
        self.names.push(s.to_string());
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set_compares_ids_not_only_hashes() {
        let mut set = IdSet::default();
        for i in 0..10_000 {
            set.insert(&format!("A{i:06}"));
        }
        set.insert("A000001");
        assert_eq!(set.end.len(), 10_000);
        assert!(set.contains(id_hash("A000001"), "A000001"));
        assert!(!set.contains(id_hash("A010000"), "A010000"));
        // A hash equal to a stored id's still needs the same text.
        assert!(!set.contains(id_hash("A000001"), "B000001"));
        assert!(!set.contains(id_hash(""), ""));
    }
}

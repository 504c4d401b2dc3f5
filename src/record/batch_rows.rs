//! The rows of a batch, by number (`rows.json` in the run dir).

use std::io;
use std::path::Path;

use crate::record::run_dir;
use crate::record::runlog;

/// The rows of a batch, by number: every row of the manifest, or those a run
/// selects (`--shard`, `--offset`, `--limit`). A bitmap: 10 million rows take 1.25 MB.
#[derive(Debug, Default, Clone)]
pub(crate) struct BatchRows {
    bits: Vec<u64>,
    count: u64,
}

impl BatchRows {
    /// Adds a row.
    pub(crate) fn insert(&mut self, row: u64) {
        let (word, bit) = ((row / 64) as usize, row % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) == 0 {
            self.count += 1;
        }
        self.bits[word] |= 1 << bit;
    }

    /// Takes a row out.
    pub(crate) fn remove(&mut self, row: u64) {
        if self.contains(row) {
            self.bits[(row / 64) as usize] &= !(1 << (row % 64));
            self.count -= 1;
        }
    }

    /// Whether the row is in the batch.
    pub(crate) fn contains(&self, row: u64) -> bool {
        let (word, bit) = ((row / 64) as usize, row % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// How many rows.
    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    /// Whether there is no row.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The highest row number, 0 when empty.
    pub(crate) fn last(&self) -> u64 {
        (0..self.bits.len() as u64 * 64)
            .rev()
            .find(|&row| self.contains(row))
            .unwrap_or(0)
    }

    /// Row numbers in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..=self.last()).filter(|&row| self.contains(row))
    }

    /// Saves the rows as ranges (`[[1, 1000]]` for a whole manifest), so that
    /// `watch` and `status` know the batch without its manifest.
    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let mut ranges: Vec<[u64; 2]> = Vec::new();
        for row in self.iter() {
            match ranges.last_mut() {
                Some(last) if last[1] + 1 == row => last[1] = row,
                _ => ranges.push([row, row]),
            }
        }
        run_dir::write_atomically(
            path,
            &serde_json::to_vec(&ranges).expect("ranges serialize"),
        )
    }

    /// Reads rows that `save` wrote.
    pub(crate) fn load(path: &Path) -> io::Result<BatchRows> {
        let ranges: Vec<[u64; 2]> = serde_json::from_slice(&std::fs::read(path)?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut rows = BatchRows::default();
        for [first, last] in ranges {
            if first == 0 || last < first || last > runlog::MAX_ROW {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not a range of rows: [{first}, {last}]"),
                ));
            }
            (first..=last).for_each(|row| rows.insert(row));
        }
        Ok(rows)
    }
}

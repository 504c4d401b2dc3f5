//! Rows whose execution name an earlier row of the batch already took.
//!
//! AWS would answer such a row with the first row's execution (or refuse it), so it
//! is invalid. Finding them takes the whole batch: the first pass spills a 64-bit
//! hash of each valid row's name, with its row (`spill`); after the pass, each part
//! of the spill (split by hash) is sorted on its own, and equal hashes side by side
//! are the duplicates. Memory stays fixed; only the duplicates are kept (16 bytes
//! each). A chance match of two different names at 10 million rows has odds near
//! 3 in a million, and would be reported, never hidden.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;

use crate::model::rows::{Invalid, Planned};
use crate::plan::spill::{PARTS, Spill};

/// Collects the names of a pass's valid rows.
#[derive(Default)]
pub struct NameSpill {
    spill: Spill,
}

impl NameSpill {
    /// Adds a valid row's name.
    pub fn add(&mut self, row: u64, name: &str) {
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        let hash = hasher.finish();
        self.spill.push(hash as usize % PARTS, [hash, row]);
    }

    /// The rows whose names an earlier row took.
    pub fn finish(self) -> io::Result<Duplicates> {
        let mut later = Vec::new();
        self.spill.finish()?.for_each(|_, pairs| {
            // By hash, then row: each run of one hash starts with its first row.
            pairs.sort_unstable();
            for same in pairs.chunk_by(|a, b| a[0] == b[0]) {
                let first = same[0][1];
                later.extend(same[1..].iter().map(|&[_, row]| [row, first]));
            }
            Ok(())
        })?;
        later.sort_unstable();
        Ok(Duplicates { later })
    }
}

/// Rows whose names an earlier row took, each with that row.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Duplicates {
    /// `[row, first row]`, by row.
    later: Vec<[u64; 2]>,
}

impl Duplicates {
    /// How many rows.
    pub fn len(&self) -> u64 {
        self.later.len() as u64
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.later.is_empty()
    }

    /// The rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = u64> + '_ {
        self.later.iter().map(|&[row, _]| row)
    }

    /// The earlier row that took this row's name, if any.
    pub fn first_row(&self, row: u64) -> Option<u64> {
        let at = self
            .later
            .binary_search_by_key(&row, |&[row, _]| row)
            .ok()?;
        Some(self.later[at][1])
    }

    /// Passes a launch through, or turns it into an invalid row naming the earlier one.
    pub fn check(&self, planned: Planned) -> Planned {
        let launch = planned?;
        match self.first_row(launch.row) {
            None => Ok(launch),
            Some(first) => Err(Invalid {
                reason: format!(
                    "execution name {:?} is already used by row {first} (identical rows render \
                     the same name: put {{row}} in the name or input template to launch both)",
                    launch.name,
                ),
                row: launch.row,
                line: launch.line,
                fields: launch.fields,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::Launch;

    fn launch(row: u64, name: &str) -> Planned {
        Ok(Launch {
            row,
            line: None,
            name: name.to_string(),
            input: "{}".to_string(),
            fields: Default::default(),
        })
    }

    #[test]
    fn later_rows_with_a_taken_name_point_at_the_first() {
        let mut names = NameSpill::default();
        for (row, name) in [(1, "a"), (2, "b"), (3, "a"), (4, "c"), (5, "a"), (6, "b")] {
            names.add(row, name);
        }
        let duplicates = names.finish().unwrap();
        assert_eq!(duplicates.rows().collect::<Vec<_>>(), [3, 5, 6]);
        assert_eq!(duplicates.first_row(5), Some(1));
        assert_eq!(duplicates.first_row(6), Some(2));
        assert!(duplicates.check(launch(2, "b")).is_ok());
        let dup = duplicates.check(launch(3, "a")).unwrap_err();
        assert!(dup.reason.contains("row 1"), "{}", dup.reason);
    }

    #[test]
    fn many_names_spread_over_the_parts() {
        let mut names = NameSpill::default();
        for row in 1..=10_000 {
            names.add(row, &format!("n{}", row % 5_000));
        }
        let duplicates = names.finish().unwrap();
        assert_eq!(duplicates.len(), 5_000);
        assert_eq!(duplicates.first_row(5_001), Some(1));
        assert_eq!(duplicates.first_row(10_000), Some(5_000));
    }
}

//! Pairs of numbers spilled to temporary files, split into parts by key, read back
//! one part at a time: how the checks that see the whole batch (duplicate names,
//! each row's last log line) keep a fixed amount of memory, however many rows the
//! batch has. Disk: 16 bytes a pair, in `$TMPDIR`, gone when the spill is dropped.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

/// How many parts a spill is split into: with a million pairs a part holds about
/// 8,000 (125 KB read back at once); with 100 million, 12 MB.
pub(crate) const PARTS: usize = 128;

/// Write buffer per part: 128 parts take 1 MB.
const BUFFER: usize = 8 * 1024;

/// A spill being written.
#[derive(Default)]
pub(crate) struct Spill {
    /// Each part's file, created on its first pair.
    parts: Vec<Option<BufWriter<File>>>,
    /// The first write that failed: reported by `finish`, so that pushing stays
    /// a plain call in the middle of a pass over the manifest.
    error: Option<io::Error>,
}

impl Spill {
    /// Adds a pair to `part` (below `PARTS`).
    pub(crate) fn push(&mut self, part: usize, pair: [u64; 2]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write(part, pair) {
            let at = std::env::temp_dir();
            self.error = Some(io::Error::new(
                e.kind(),
                format!("a temporary file in {} ($TMPDIR): {e}", at.display()),
            ));
        }
    }

    fn write(&mut self, part: usize, [a, b]: [u64; 2]) -> io::Result<()> {
        if self.parts.is_empty() {
            self.parts.resize_with(PARTS, || None);
        }
        let file = match &mut self.parts[part] {
            Some(file) => file,
            empty => empty.insert(BufWriter::with_capacity(BUFFER, tempfile::tempfile()?)),
        };
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&a.to_le_bytes());
        bytes[8..].copy_from_slice(&b.to_le_bytes());
        file.write_all(&bytes)
    }

    /// Ends the writing: the parts, to read back as often as needed.
    pub(crate) fn finish(self) -> io::Result<Parts> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let files = self
            .parts
            .into_iter()
            .map(|part| part.map(|file| file.into_inner().map_err(|e| e.into_error())))
            .map(Option::transpose)
            .collect::<io::Result<_>>()?;
        Ok(Parts { files })
    }
}

/// A written spill.
pub(crate) struct Parts {
    files: Vec<Option<File>>,
}

impl Parts {
    /// Calls `each` with every part's pairs (part 0 first; within a part, in the
    /// order they were pushed), skipping parts without a pair.
    pub(crate) fn for_each(
        &self,
        mut each: impl FnMut(usize, &mut Vec<[u64; 2]>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut pairs = Vec::new();
        for part in 0..self.files.len() {
            if self.read(part, &mut pairs)? {
                each(part, &mut pairs)?;
            }
        }
        Ok(())
    }

    /// Reads `part`'s pairs into `pairs`, in the order they were pushed; false for
    /// a part without a pair.
    pub(crate) fn read(&self, part: usize, pairs: &mut Vec<[u64; 2]>) -> io::Result<bool> {
        pairs.clear();
        let Some(Some(file)) = self.files.get(part) else {
            return Ok(false);
        };
        let mut bytes = vec![0; file.metadata()?.len() as usize];
        file.read_exact_at(&mut bytes, 0)?;
        pairs.extend(bytes.chunks_exact(16).map(|pair| {
            let number = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
            [number(&pair[..8]), number(&pair[8..])]
        }));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_come_back_by_part_in_the_order_pushed() {
        let mut spill = Spill::default();
        spill.push(5, [1, 2]);
        spill.push(0, [3, 4]);
        spill.push(5, [5, 6]);
        let parts = spill.finish().unwrap();
        for _ in 0..2 {
            let mut seen = Vec::new();
            parts
                .for_each(|part, pairs| {
                    seen.push((part, pairs.clone()));
                    Ok(())
                })
                .unwrap();
            assert_eq!(seen, [(0, vec![[3, 4]]), (5, vec![[1, 2], [5, 6]])]);
        }
    }

    #[test]
    fn an_empty_spill_has_no_parts() {
        let parts = Spill::default().finish().unwrap();
        parts.for_each(|_, _| panic!("no part")).unwrap();
    }
}

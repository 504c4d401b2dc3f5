//! "Did you mean …?" for a name close to one that exists: a template field, a job
//! file's key.

/// The name among `names` closest to `word`, if one is close enough to be what was
/// meant (Jaro similarity above 0.7, as clap suggests flags).
pub(crate) fn closest<'a>(word: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .map(|name| (strsim::jaro(word, name), name))
        .filter(|(similarity, _)| *similarity > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_nonsense_finds_none() {
        let fields = ["input", "output", "bucket"];
        assert_eq!(closest("inptu", fields), Some("input"));
        assert_eq!(closest("ouptut", fields), Some("output"));
        assert_eq!(closest("zzz", fields), None);
        let keys = ["concurrency", "rate", "run_dir"];
        assert_eq!(closest("concurency", keys), Some("concurrency"));
    }
}

//! Defines the "did you mean" helper shared by the config reader and the CQL linter.

/// Levenshtein edit distance between two strings, compared case-insensitively.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut curr = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        curr[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            curr[j + 1] = (prev[j + 1] + 1).min(curr[j] + 1).min(prev[j] + cost);
        }
        std::mem::swap(&mut prev, &mut curr);
    }
    prev[b.len()]
}

/// The closest candidate to `word`, if it is close enough to be a plausible typo:
/// at most half the word's length in edits (at least one, at most three).
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (word.chars().count() / 2).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` (did you mean 'x'?)` when a candidate is close, else an empty string.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).map_or_else(String::new, |s| format!(" (did you mean '{s}'?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ADD", "add"), 0);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn closest_finds_typos_only() {
        let keys = ["history_keyspace", "history_table", "keyspace"];
        assert_eq!(closest("histroy_keyspace", keys), Some("history_keyspace"));
        assert_eq!(closest("MDDADD", ["ADD", "ALTER", "DROP"]), Some("ADD"));
        assert_eq!(closest("SELCT", ["SELECT", "DELETE"]), Some("SELECT"));
        assert_eq!(closest("zzzzzzzz", keys), None);
    }
}

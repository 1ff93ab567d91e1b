//! "Did you mean": the name nearest to a word that is not one, for the macro's options
//! and kinds and the runtime's variables alike.

/// The candidate nearest to `word`, if it is a plausible typo of it: at most two edits
/// away (and fewer than the candidate's length).
///
/// ```
/// assert_eq!(recorder_config::closest("setpu", &["models", "setup"]), Some("setup"));
/// assert_eq!(recorder_config::closest("zzz", &["models", "setup"]), None);
/// ```
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2 && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The Levenshtein distance of `a` and `b`: insertions, deletions and substitutions of
/// characters.
///
/// ```
/// assert_eq!(recorder_config::edit_distance("modles", "models"), 2);
/// ```
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

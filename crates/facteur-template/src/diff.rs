//! Summaries of what changed between two versions of a template part: lines added and removed
//! (as multisets, so a moved line counts as neither), enough for a version list.

use std::collections::HashMap;

/// (lines added, lines removed) going from `old` to `new`.
pub fn line_changes(old: &str, new: &str) -> (usize, usize) {
    let mut counts: HashMap<&str, isize> = HashMap::new();
    for line in old.lines() {
        *counts.entry(line.trim_end()).or_default() -= 1;
    }
    for line in new.lines() {
        *counts.entry(line.trim_end()).or_default() += 1;
    }
    counts.values().fold((0, 0), |(added, removed), &n| {
        if n > 0 {
            (added + n as usize, removed)
        } else {
            (added, removed + (-n) as usize)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::line_changes;

    #[test]
    fn changes() {
        assert_eq!(line_changes("a\nb\nc", "a\nb\nc"), (0, 0));
        assert_eq!(
            line_changes("a\nb\nc", "c\na\nb"),
            (0, 0),
            "moved lines are not changes"
        );
        assert_eq!(line_changes("a\nb", "a\nB\nd"), (2, 1));
        assert_eq!(line_changes("", "x\ny"), (2, 0));
        assert_eq!(line_changes("x\nx", "x"), (0, 1));
    }
}

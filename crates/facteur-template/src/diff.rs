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

/// One line of a line-by-line comparison.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DiffLine {
    /// `same`, `add` or `del`.
    pub kind: &'static str,
    pub text: String,
    /// Its number in the old text (1-based), for `same` and `del`.
    pub old: Option<usize>,
    /// Its number in the new text, for `same` and `add`.
    pub new: Option<usize>,
}

/// Above this many line pairs the middle of two texts (past their common start and end) is
/// shown as removed then added rather than aligned (the alignment costs their product).
const ALIGN_LIMIT: usize = 4_000_000;

/// The lines of `old` and `new` aligned on their longest common subsequence: what a code diff
/// shows (removed lines before the added ones that replace them).
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let same = |out: &mut Vec<DiffLine>, i: usize, j: usize, text: &str| {
        out.push(DiffLine {
            kind: "same",
            text: text.to_string(),
            old: Some(i + 1),
            new: Some(j + 1),
        })
    };
    for (i, line) in a.iter().enumerate().take(prefix) {
        same(&mut out, i, i, line);
    }
    let (n, m) = (am.len(), bm.len());
    let del = |i: usize| DiffLine {
        kind: "del",
        text: am[i].to_string(),
        old: Some(prefix + i + 1),
        new: None,
    };
    let add = |j: usize| DiffLine {
        kind: "add",
        text: bm[j].to_string(),
        old: None,
        new: Some(prefix + j + 1),
    };
    if n.saturating_mul(m) > ALIGN_LIMIT {
        out.extend((0..n).map(del));
        out.extend((0..m).map(add));
    } else {
        // lcs[i][j]: the longest common subsequence of am[i..] and bm[j..].
        let w = m + 1;
        let mut lcs = vec![0u32; (n + 1) * w];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * w + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                same(&mut out, prefix + i, prefix + j, am[i]);
                i += 1;
                j += 1;
            } else if j == m || (i < n && lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
                out.push(del(i));
                i += 1;
            } else {
                out.push(add(j));
                j += 1;
            }
        }
    }
    for k in 0..suffix {
        let (i, j) = (a.len() - suffix + k, b.len() - suffix + k);
        same(&mut out, i, j, a[i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{line_changes, line_diff};

    #[test]
    fn aligned_diff() {
        let d = line_diff("a\nb\nc\nd", "a\nc\nX\nd");
        let kinds: Vec<_> = d.iter().map(|l| (l.kind, l.text.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("same", "a"),
                ("del", "b"),
                ("same", "c"),
                ("add", "X"),
                ("same", "d")
            ]
        );
        assert_eq!(d[3].new, Some(3));
        assert_eq!(d[1].old, Some(2));
        assert!(line_diff("", "").is_empty());
        assert_eq!(line_diff("", "x").len(), 1);
    }

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

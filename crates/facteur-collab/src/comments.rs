//! Comments on blocks: threads with replies, mentions of people, resolve and reopen. They
//! exist on templates only; a campaign's editor refuses them (the mode is stored with each
//! comment so that rule holds for stored data too).

use serde::{Deserialize, Serialize};

/// Where a comment was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Template,
    Campaign,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Template => "template",
            Mode::Campaign => "campaign",
        }
    }
}

/// The longest comment, in characters.
pub const MAX_BODY: usize = 5_000;

/// Checks a new or edited comment's text (plain text: it is shown as text, never as HTML).
pub fn check_body(mode: Mode, body: &str) -> Result<String, String> {
    if mode == Mode::Campaign {
        return Err("Campaigns have no comments: comment on the template they use.".into());
    }
    let b = body.trim();
    if b.is_empty() {
        return Err("A comment needs some text.".into());
    }
    if b.chars().count() > MAX_BODY {
        return Err(format!("A comment holds at most {MAX_BODY} characters."));
    }
    Ok(b.to_string())
}

/// A person who can be mentioned.
#[derive(Clone, Debug)]
pub struct Mentionable {
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// The people `body` mentions: `@` followed by their e-mail address, or by their name (the
/// longest name that matches wins, so "@Ana Lopez" is not "@Ana"). Each once, in order.
pub fn mentions(body: &str, people: &[Mentionable]) -> Vec<i64> {
    let mut found = Vec::new();
    let lower = body.to_lowercase();
    for (at, _) in lower.match_indices('@') {
        // An address's own '@' ("ana@example.com") mentions nobody.
        if lower[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_')
        {
            continue;
        }
        let rest = &lower[at + 1..];
        let hit = people
            .iter()
            .flat_map(|p| {
                [p.email.to_lowercase(), p.name.to_lowercase()]
                    .into_iter()
                    .filter(|k| !k.is_empty())
                    .map(move |k| (p.id, k))
            })
            .filter(|(_, k)| {
                rest.starts_with(k.as_str())
                    && !rest[k.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '@')
            })
            .max_by_key(|(_, k)| k.len());
        if let Some((id, _)) = hit
            && !found.contains(&id)
        {
            found.push(id);
        }
    }
    found
}

/// Whether `user` may edit or delete a comment written by `author`.
pub fn may_change(author: i64, user: i64) -> Result<(), String> {
    if author == user {
        Ok(())
    } else {
        Err("Only its author edits or deletes a comment.".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions() {
        let people = [
            Mentionable {
                id: 1,
                name: "Ana".into(),
                email: "ana@example.com".into(),
            },
            Mentionable {
                id: 2,
                name: "Ana Lopez".into(),
                email: "lopez@example.com".into(),
            },
            Mentionable {
                id: 3,
                name: "Bo".into(),
                email: "bo@example.com".into(),
            },
        ];
        assert_eq!(mentions("@Ana Lopez look", &people), [2]);
        assert_eq!(mentions("@ana, and @BO@example.com?", &people), [1, 3]);
        assert_eq!(mentions("mail ana@example.com", &people), Vec::<i64>::new());
        assert_eq!(mentions("@Anabel", &people), Vec::<i64>::new());
        assert_eq!(mentions("@bo @bo", &people), [3]);
    }

    #[test]
    fn bodies() {
        assert!(check_body(Mode::Campaign, "hi").is_err());
        assert!(check_body(Mode::Template, "  ").is_err());
        assert_eq!(check_body(Mode::Template, " hi ").as_deref(), Ok("hi"));
        assert!(may_change(1, 2).is_err());
    }
}

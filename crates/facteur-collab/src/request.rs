//! Publish requests: a person who may edit but not publish submits the draft with a message;
//! an approver publishes it as a new version or refuses it with a reason. Only a pending
//! request moves, and only once.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Refused,
    /// Replaced by a newer request for the same template, or taken back by its requester.
    Withdrawn,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Refused => "refused",
            Status::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Approved,
            Status::Refused,
            Status::Withdrawn,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Refuse { reason: String },
    Withdraw,
}

/// Who decides, and what they may do.
#[derive(Clone, Copy, Debug)]
pub struct Decider {
    pub can_publish: bool,
    /// They made the request.
    pub requester: bool,
}

/// The longest message or reason.
pub const MAX_TEXT: usize = 5_000;

/// Checks a new request's message.
pub fn submit(message: &str, can_edit: bool) -> Result<String, String> {
    if !can_edit {
        return Err(
            "Your role may not edit this template, so it may not ask to publish it.".into(),
        );
    }
    let m = message.trim();
    if m.len() > MAX_TEXT {
        return Err(format!("The message holds at most {MAX_TEXT} characters."));
    }
    Ok(m.to_string())
}

/// The status `decision` moves a request in `status` to.
pub fn decide(status: Status, decision: &Decision, who: Decider) -> Result<Status, String> {
    if status != Status::Pending {
        return Err(format!(
            "This request is already {}: it cannot change again.",
            status.as_str()
        ));
    }
    match decision {
        Decision::Approve | Decision::Refuse { .. } if !who.can_publish => {
            Err("Only people who may publish templates approve or refuse requests.".into())
        }
        Decision::Refuse { reason } if reason.trim().is_empty() => {
            Err("Say why the request is refused: the requester reads it.".into())
        }
        Decision::Refuse { reason } if reason.len() > MAX_TEXT => {
            Err(format!("The reason holds at most {MAX_TEXT} characters."))
        }
        Decision::Approve => Ok(Status::Approved),
        Decision::Refuse { .. } => Ok(Status::Refused),
        Decision::Withdraw if !who.requester => {
            Err("Only the person who made a request withdraws it.".into())
        }
        Decision::Withdraw => Ok(Status::Withdrawn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPROVER: Decider = Decider {
        can_publish: true,
        requester: false,
    };
    const MARKETER: Decider = Decider {
        can_publish: false,
        requester: true,
    };

    #[test]
    fn state_machine() {
        use Status::*;
        assert_eq!(decide(Pending, &Decision::Approve, APPROVER), Ok(Approved));
        assert!(decide(Pending, &Decision::Approve, MARKETER).is_err());
        let refuse = |r: &str| Decision::Refuse { reason: r.into() };
        assert!(decide(Pending, &refuse(" "), APPROVER).is_err());
        assert_eq!(decide(Pending, &refuse("off brand"), APPROVER), Ok(Refused));
        assert_eq!(
            decide(Pending, &Decision::Withdraw, MARKETER),
            Ok(Withdrawn)
        );
        assert!(decide(Pending, &Decision::Withdraw, APPROVER).is_err());
        for done in [Approved, Refused, Withdrawn] {
            assert!(decide(done, &Decision::Approve, APPROVER).is_err());
            assert!(decide(done, &Decision::Withdraw, MARKETER).is_err());
        }
        assert!(submit("please", false).is_err());
        assert_eq!(submit("  please ", true).as_deref(), Ok("please"));
        for s in [Pending, Approved, Refused, Withdrawn] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}

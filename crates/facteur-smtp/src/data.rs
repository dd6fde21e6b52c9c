//! The DATA receiver and the body checks shared with BDAT.
//!
//! Only `<CR><LF>.<CR><LF>` ends DATA (the first CRLF may be the one that ended the DATA command).
//! A `.` line that follows a bare LF or a bare CR is data, never an end: that is what defeats SMTP
//! smuggling (`<LF>.<CR><LF>`, `<CR><LF>.<LF>`, `<CR>.<CR>`…). Bare line ends are recorded and the
//! message is refused once its end is read, so smuggled commands are never executed and the
//! next hop never sees an ambiguous line end.

use crate::reply::{self, Reply};

/// Longest line allowed in a message body, without its CRLF (RFC 5322 2.1.1).
pub const MAX_BODY_LINE: usize = 998;

/// What can be wrong with a body; the first problem found decides the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    BareNewline,
    Nul,
    LineTooLong,
}

impl BodyError {
    pub fn reply(self) -> Reply {
        match self {
            BodyError::TooLarge => reply::SIZE_EXCEEDED,
            BodyError::BareNewline => reply::BARE_NEWLINE,
            BodyError::Nul => reply::NUL_IN_BODY,
            BodyError::LineTooLong => reply::BODY_LINE_TOO_LONG,
        }
    }
}

/// Incremental DATA receiver: feed it bytes, it unstuffs dots, checks lines and says where the
/// message ended. Work is per line (one scan for LF, one for CR and NUL), so large bodies stream.
#[derive(Debug)]
pub struct DataReceiver {
    max_size: usize,
    body: Vec<u8>,
    /// Bytes of the current line not yet terminated by LF.
    partial: Vec<u8>,
    /// The current line overflowed: its content was dropped (it is an error anyway).
    overflowed: bool,
    /// The dropped content of the current line held a CR / a NUL: the line's error is decided
    /// when its LF arrives, as if it had been read whole, so the reply does not depend on where
    /// the reads were cut.
    dropped_cr: bool,
    dropped_nul: bool,
    /// Did the previous line end with CRLF? (True at the start: the DATA command's CRLF.)
    prev_crlf: bool,
    error: Option<BodyError>,
}

impl DataReceiver {
    pub fn new(max_size: usize) -> Self {
        DataReceiver {
            max_size,
            body: Vec::new(),
            partial: Vec::new(),
            overflowed: false,
            dropped_cr: false,
            dropped_nul: false,
            prev_crlf: true,
            error: None,
        }
    }

    /// Consumes bytes from `input`. Returns `Some(consumed)` when the end of data was found
    /// (the bytes after it belong to the next command), `None` when everything was consumed.
    pub fn ingest(&mut self, input: &[u8]) -> Option<usize> {
        let mut pos = 0;
        while pos < input.len() {
            let rest = &input[pos..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(lf) => {
                    let end = pos + lf + 1;
                    let done = if self.partial.is_empty() && !self.overflowed {
                        self.line(&input[pos..end])
                    } else {
                        let mut line = std::mem::take(&mut self.partial);
                        line.extend_from_slice(&input[pos..end]);
                        let done = self.line(&line);
                        line.clear();
                        self.partial = line;
                        done
                    };
                    pos = end;
                    if done {
                        return Some(pos);
                    }
                }
                None => {
                    self.partial.extend_from_slice(rest);
                    // A transparency dot, 998 octets and a CR: the longest line not yet ended.
                    if self.partial.len() > MAX_BODY_LINE + 2 {
                        // Keep only the last byte: it tells whether the LF to come makes a CRLF.
                        // What the dropped bytes held is kept for the line's verdict.
                        let (last, dropped) = self.partial.split_last().unwrap_or((&0, &[]));
                        let last = *last;
                        self.dropped_cr |= dropped.contains(&b'\r');
                        self.dropped_nul |= dropped.contains(&0);
                        self.partial.clear();
                        self.partial.push(last);
                        self.overflowed = true;
                    }
                    return None;
                }
            }
        }
        None
    }

    /// One line including its LF. Returns true when it is the end-of-data line. The problems
    /// of a line are noted in a fixed order (line end, CR, NUL, length).
    fn line(&mut self, line: &[u8]) -> bool {
        let crlf = line.len() >= 2 && line[line.len() - 2] == b'\r';
        let overflowed = std::mem::take(&mut self.overflowed);
        let dropped_cr = std::mem::take(&mut self.dropped_cr);
        let dropped_nul = std::mem::take(&mut self.dropped_nul);
        if !overflowed && crlf && self.prev_crlf && line == b".\r\n" {
            return true;
        }
        let content = &line[..line.len() - if crlf { 2 } else { 1 }];
        // Dot-unstuffing (RFC 5321 4.5.2); the length limit is on the line, not on its
        // transparency dot (a 998-octet line starting with a dot passes BDAT too).
        let content = content.strip_prefix(b".").unwrap_or(content);
        if !crlf {
            self.note(BodyError::BareNewline);
        }
        if dropped_cr || content.contains(&b'\r') {
            self.note(BodyError::BareNewline);
        }
        if dropped_nul || content.contains(&0) {
            self.note(BodyError::Nul);
        }
        if content.len() > MAX_BODY_LINE || overflowed {
            self.note(BodyError::LineTooLong);
        }
        self.prev_crlf = crlf;
        if self.error.is_none() || self.error == Some(BodyError::TooLarge) {
            if self.body.len() + content.len() + 2 > self.max_size {
                self.note(BodyError::TooLarge);
            } else if self.error.is_none() {
                self.body.extend_from_slice(content);
                self.body.extend_from_slice(b"\r\n");
            }
        }
        false
    }

    fn note(&mut self, error: BodyError) {
        if self.error.is_none() {
            self.error = Some(error);
            // The message will be refused: stop keeping its bytes.
            self.body = Vec::new();
        }
    }

    /// The message body (CRLF lines, unstuffed) or why it is refused.
    pub fn finish(self) -> Result<Vec<u8>, BodyError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.body),
        }
    }
}

/// Checks a complete body received with BDAT: the same rules as DATA, minus dot handling.
pub fn check_body(body: &[u8]) -> Result<(), BodyError> {
    let mut line_len = 0usize;
    let mut prev = 0u8;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'\n' if prev != b'\r' => return Err(BodyError::BareNewline),
            b'\n' => line_len = 0,
            b'\r' if body.get(i + 1) != Some(&b'\n') => return Err(BodyError::BareNewline),
            b'\r' => {}
            0 => return Err(BodyError::Nul),
            _ => {
                line_len += 1;
                if line_len > MAX_BODY_LINE {
                    return Err(BodyError::LineTooLong);
                }
            }
        }
        prev = b;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at `at`; returns (body or error, bytes left after the end).
    fn run(input: &[u8], at: usize) -> (Result<Vec<u8>, BodyError>, Option<Vec<u8>>) {
        let mut r = DataReceiver::new(1 << 20);
        let (a, b) = input.split_at(at);
        if let Some(n) = r.ingest(a) {
            let mut rest = a[n..].to_vec();
            rest.extend_from_slice(b);
            return (r.finish(), Some(rest));
        }
        if let Some(n) = r.ingest(b) {
            return (r.finish(), Some(b[n..].to_vec()));
        }
        (r.finish(), None)
    }

    fn every_split(input: &[u8]) -> (Result<Vec<u8>, BodyError>, Option<Vec<u8>>) {
        let first = run(input, 0);
        for at in 1..=input.len() {
            assert_eq!(
                run(input, at),
                first,
                "split at {at} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
        first
    }

    #[test]
    fn plain_message_and_rest() {
        let (body, rest) = every_split(b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n");
        assert_eq!(body.unwrap(), b"Subject: x\r\n\r\nhello\r\n");
        assert_eq!(rest.unwrap(), b"QUIT\r\n");
    }

    #[test]
    fn empty_message() {
        let (body, rest) = every_split(b".\r\n");
        assert_eq!(body.unwrap(), b"");
        assert_eq!(rest.unwrap(), b"");
    }

    #[test]
    fn dot_unstuffing() {
        let (body, _) = every_split(b"..x\r\n...\r\n.\r\n");
        assert_eq!(body.unwrap(), b".x\r\n..\r\n");
    }

    #[test]
    fn smuggling_vectors_never_end_data() {
        // Each vector is followed by a smuggled transaction and then the real end of data.
        for vector in [
            &b"\n.\r\n"[..],
            b"\r\n.\n",
            b"\n.\n",
            b"\r.\r\n",
            b"\r\n.\r",
            b"\r.\r",
        ] {
            let mut input = b"Subject: a\r\n\r\nbody".to_vec();
            input.extend_from_slice(vector);
            input.extend_from_slice(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n");
            input.extend_from_slice(b"\r\n.\r\n");
            let (body, rest) = every_split(&input);
            assert_eq!(body, Err(BodyError::BareNewline), "vector {vector:?}");
            assert_eq!(
                rest.unwrap(),
                b"",
                "vector {vector:?} must not end DATA early"
            );
        }
    }

    #[test]
    fn body_errors() {
        assert_eq!(every_split(b"a\0b\r\n.\r\n").0, Err(BodyError::Nul));
        let long = [b"x".repeat(999), b"\r\n.\r\n".to_vec()].concat();
        assert_eq!(every_split(&long).0, Err(BodyError::LineTooLong));
        let ok = [b"x".repeat(998), b"\r\n.\r\n".to_vec()].concat();
        assert!(every_split(&ok).0.is_ok());
        let mut r = DataReceiver::new(10);
        assert!(r.ingest(b"0123456789\r\n.\r\n").is_some());
        assert_eq!(r.finish(), Err(BodyError::TooLarge));
    }

    /// Found by the smtp-data fuzz target: a line over 998 octets that also held a bare CR or a
    /// NUL, or ended with a bare LF, was refused with 554 (line too long) or 550 (bare line
    /// end) depending on where the reads were cut. The reply no longer depends on the reads.
    #[test]
    fn long_line_errors_do_not_depend_on_reads() {
        let long = "x".repeat(1500);
        for (line, error) in [
            (format!("{long}\ry\r\n"), BodyError::BareNewline),
            (format!("y\r{long}\r\n"), BodyError::BareNewline),
            (format!("{long}\n"), BodyError::BareNewline),
            (format!("{long}\0\r\n"), BodyError::Nul),
            (format!("\0{long}{long}\r\n"), BodyError::Nul),
            (format!("{long}{long}\r\n"), BodyError::LineTooLong),
        ] {
            let input = format!("{line}next\r\n.\r\n");
            let (body, rest) = every_split(input.as_bytes());
            assert_eq!(body, Err(error), "{:?}", &line[line.len() - 4..]);
            assert_eq!(rest.unwrap(), b"");
        }
    }

    /// Found by the mime-mj-headers fuzz target: a 998-octet line starting with a dot passes
    /// BDAT but was refused in DATA, where its stuffed dot made it 999. The limit is on the
    /// line, not on its transparency dot (RFC 5321 4.5.2).
    #[test]
    fn stuffed_dot_does_not_count() {
        let line = [b".".to_vec(), b"x".repeat(997), b"\r\n".to_vec()].concat();
        assert_eq!(check_body(&line), Ok(()));
        let wire = [b".".to_vec(), line.clone(), b".\r\n".to_vec()].concat();
        assert_eq!(every_split(&wire).0, Ok(line));
        let over = [b"..".to_vec(), b"x".repeat(998), b"\r\n.\r\n".to_vec()].concat();
        assert_eq!(every_split(&over).0, Err(BodyError::LineTooLong));
    }

    #[test]
    fn huge_line_without_lf_is_bounded() {
        let mut r = DataReceiver::new(1 << 30);
        for _ in 0..1000 {
            assert!(r.ingest(&[b'x'; 4096]).is_none());
        }
        assert!(r.partial.len() < 4096);
        assert_eq!(r.ingest(b"\r\n.\r\n"), Some(5));
        assert_eq!(r.finish(), Err(BodyError::LineTooLong));
    }

    #[test]
    fn bdat_body_checks() {
        assert_eq!(check_body(b"a\r\nb\r\n"), Ok(()));
        assert_eq!(check_body(b"a\nb"), Err(BodyError::BareNewline));
        assert_eq!(check_body(b"a\rb"), Err(BodyError::BareNewline));
        assert_eq!(check_body(b"a\0"), Err(BodyError::Nul));
        assert_eq!(check_body(&b"y".repeat(999)), Err(BodyError::LineTooLong));
    }
}

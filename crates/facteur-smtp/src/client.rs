//! Pure pieces of the outbound client: dot-stuffing for DATA and a buffered reply reader.

use smtp_proto::response::parser::ResponseReceiver;

pub use smtp_proto::Response;

/// Prepares a stored body for DATA: a dot is doubled at the start of every line (any LF starts a
/// line, so nothing the body holds can end DATA early at the next hop), the body is ended with
/// CRLF if it was not, and the end-of-data line is appended.
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut line_start = true;
    for &b in body {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !body.is_empty() && !body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Accumulates bytes from the server until a complete (possibly multi-line) reply is there.
#[derive(Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
}

impl ReplyReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete reply, if one is buffered; `Err` for a malformed reply.
    pub fn next_reply(&mut self) -> Result<Option<Response<String>>, String> {
        let end = match complete_reply_len(&self.buf) {
            Some(end) => end,
            None if self.buf.len() > 64 * 1024 => return Err("reply too long".into()),
            None => return Ok(None),
        };
        let raw: Vec<u8> = self.buf.drain(..end).collect();
        ResponseReceiver::default()
            .parse(&mut raw.iter())
            .map(Some)
            .map_err(|e| format!("malformed reply {:?}: {e:?}", String::from_utf8_lossy(&raw)))
    }
}

/// Length of the first complete reply in `buf`: lines up to one whose 4th byte is not `-`.
fn complete_reply_len(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(lf) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + lf + 1];
        start += lf + 1;
        if line.get(3) != Some(&b'-') {
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n..\r\n"), b"..a\r\nb\r\n...\r\n.\r\n");
        assert_eq!(dot_stuff(b"x"), b"x\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
        assert_eq!(dot_stuff(b"a\n.\r\n"), b"a\n..\r\n.\r\n");
    }

    #[test]
    fn replies() {
        let mut r = ReplyReader::default();
        r.push(b"250-host\r\n250-PIPE");
        assert_eq!(r.next_reply().unwrap(), None);
        r.push(b"LINING\r\n250 SIZE 10\r\n550 5.1.1 no such user\r\n");
        let first = r.next_reply().unwrap().unwrap();
        assert_eq!(first.code, 250);
        let second = r.next_reply().unwrap().unwrap();
        assert_eq!((second.code, second.esc), (550, [5, 1, 1]));
        assert_eq!(second.message, "no such user");
        assert_eq!(r.next_reply().unwrap(), None);
    }
}

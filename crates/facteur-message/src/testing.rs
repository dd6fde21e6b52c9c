//! Test helpers shared with the crates that build messages (feature `testing`).

/// What a message must be to pass the SMTP intake's DATA checks and come out of a dot-stuffed
/// transfer unchanged.
pub fn assert_smtp_safe(raw: &[u8]) {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    assert!(raw.ends_with(b"\r\n"), "ends with CRLF: {}", shown());
    assert_eq!(facteur_smtp::data::check_body(raw), Ok(()), "{}", shown());
    let wire = facteur_smtp::client::dot_stuff(raw);
    let mut receiver = facteur_smtp::data::DataReceiver::new(usize::MAX);
    assert_eq!(receiver.ingest(&wire), Some(wire.len()), "{}", shown());
    assert_eq!(receiver.finish().as_deref(), Ok(raw));
}

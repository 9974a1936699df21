//! Incremental Server-Sent-Events parser.
//!
//! Feed it bytes as they arrive ([`SseParser::push`]) and pull complete events
//! ([`SseParser::next_event`]). Handles `\n`, `\r\n` and `\r` line endings, multi-line
//! `data:`, comments (`: keep-alive`) and events split across reads at any byte.
//!
//! The upstream is only partly trusted: a line, or an event's data, longer than the
//! parser's limit ([`MAX_EVENT_BYTES`] unless set) is an [`SseError`], never an
//! ever-growing buffer.

/// Longest line, and longest event data (all its `data:` lines), a parser accepts by
/// default.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// A stream the parser refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line or an event's data passed the limit.
    #[error("an SSE line or event is longer than {limit} bytes")]
    TooLong {
        /// The parser's limit, in bytes.
        limit: usize,
    },
}

/// One parsed SSE item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// An event with its `data` (lines joined by `\n`) and optional `event` name.
    Data {
        /// `event:` field, if any.
        event: Option<String>,
        /// `data:` payload.
        data: String,
    },
    /// A comment line (`: keep-alive`), text after the colon.
    Comment(String),
}

/// Streaming SSE parser; see the module docs.
#[derive(Debug)]
pub struct SseParser {
    buf: Vec<u8>,
    pos: usize,
    /// Longest line or event data accepted.
    max: usize,
    /// Bytes at the end of `buf` after the last line ending: the line still arriving.
    tail: usize,
    data: Option<String>,
    event: Option<String>,
    /// A `\r` ended the previous line; swallow a following `\n`.
    after_cr: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A new, empty parser with the default limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, empty parser that refuses lines and events longer than `max` bytes.
    pub fn with_limit(max: usize) -> Self {
        SseParser {
            buf: Vec::new(),
            pos: 0,
            max,
            tail: 0,
            data: None,
            event: None,
            after_cr: false,
        }
    }

    /// Append bytes received from the network; an error when the line they continue
    /// is past the limit (the buffer is dropped then: the stream cannot be read on).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 4096 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.tail = match memchr::memrchr2(b'\n', b'\r', bytes) {
            Some(i) => bytes.len().saturating_sub(i.saturating_add(1)),
            None => self.tail.saturating_add(bytes.len()),
        };
        if self.tail > self.max {
            self.buf = Vec::new();
            self.pos = 0;
            return Err(SseError::TooLong { limit: self.max });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Bytes received but not yet part of a complete line.
    pub fn pending(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next complete event, if the buffer holds one; an error when the data of the
    /// event being read passes the limit.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        loop {
            let Some((start, end)) = self.next_line() else {
                return Ok(None);
            };
            // The line is read in place, fields matched as bytes, and only the value
            // decoded: this runs for every chunk of every stream the gateway relays and
            // the load tester reads.
            let line = self.buf.get(start..end).unwrap_or_default();
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    return Ok(Some(SseEvent::Data {
                        event: self.event.take(),
                        data,
                    }));
                }
                self.event = None;
                continue;
            }
            if let Some(comment) = line.strip_prefix(b":") {
                return Ok(Some(SseEvent::Comment(
                    text(comment).trim_start().to_string(),
                )));
            }
            let (field, value) =
                match memchr::memchr(b':', line).and_then(|i| line.split_at_checked(i)) {
                    Some((field, colon_value)) => {
                        let v = colon_value.get(1..).unwrap_or_default();
                        (field, v.strip_prefix(b" ").unwrap_or(v))
                    }
                    None => (line, &b""[..]),
                };
            match field {
                b"data" => match &mut self.data {
                    Some(d) if d.len().saturating_add(value.len()) >= self.max => {
                        self.data = None;
                        return Err(SseError::TooLong { limit: self.max });
                    }
                    Some(d) => {
                        d.push('\n');
                        d.push_str(&text(value));
                    }
                    None => self.data = Some(text(value).into_owned()),
                },
                b"event" => self.event = Some(text(value).into_owned()),
                _ => {} // id, retry and unknown fields carry nothing we use
            }
        }
    }

    /// At end of stream: the event left without its terminating blank line, if any.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        if self.pending() > 0 {
            self.buf.extend_from_slice(b"\n");
            self.tail = 0;
        }
        if let Some(e) = self.next_event()? {
            return Ok(Some(e));
        }
        Ok(self.data.take().map(|data| SseEvent::Data {
            event: self.event.take(),
            data,
        }))
    }

    /// The byte range of the next complete line (without its ending), if any.
    fn next_line(&mut self) -> Option<(usize, usize)> {
        // A `\r` ended the previous line: a `\n` right after it belongs to that line
        // ending, whichever read it arrives in. Decide once the next byte is here.
        if self.after_cr
            && let Some(&next) = self.buf.get(self.pos)
        {
            if next == b'\n' {
                self.pos = self.pos.saturating_add(1);
            }
            self.after_cr = false;
        }
        let start = self.pos;
        let rest = self.buf.get(start..)?;
        let len = memchr::memchr2(b'\n', b'\r', rest)?;
        self.after_cr = rest.get(len) == Some(&b'\r');
        let end = start.saturating_add(len);
        self.pos = end.saturating_add(1);
        Some((start, end))
    }
}

/// UTF-8 text of `bytes`: borrowed when valid (the fast, usual case), else with
/// replacement characters.
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Append one SSE event: `event: <name>` when named, then `data: <value as JSON>`.
pub fn write_event(out: &mut Vec<u8>, name: Option<&str>, data: &impl serde::Serialize) {
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    // Serializing a `Value` or a derived struct into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, data).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
}

/// Append an SSE comment line (`:<text>`, as the parser gave it).
pub fn write_comment(out: &mut Vec<u8>, text: &str) {
    out.push(b':');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut SseParser) -> Vec<SseEvent> {
        std::iter::from_fn(|| p.next_event().unwrap()).collect()
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused_without_growing() {
        let mut p = SseParser::with_limit(16);
        p.push(b"data: 0123456789").unwrap();
        assert_eq!(p.push(b"abcdef"), Err(SseError::TooLong { limit: 16 }));
        assert_eq!(p.pending(), 0, "the buffer is dropped");
        // Complete lines before a long tail are fine.
        let mut p = SseParser::with_limit(16);
        p.push(b"data: a\n\ndata: 0123").unwrap();
        assert_eq!(all(&mut p), vec![data("a")]);
    }

    #[test]
    fn an_event_whose_data_lines_add_up_past_the_limit_is_refused() {
        let mut p = SseParser::with_limit(16);
        p.push(b"data: 0123456789\ndata: 0123456789\n").unwrap();
        assert_eq!(p.next_event(), Err(SseError::TooLong { limit: 16 }));
    }

    fn data(s: &str) -> SseEvent {
        SseEvent::Data {
            event: None,
            data: s.into(),
        }
    }

    #[test]
    fn parses_events_and_keepalive_comments() {
        let mut p = SseParser::new();
        p.push(b": keep-alive\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n")
            .unwrap();
        assert_eq!(
            all(&mut p),
            vec![
                SseEvent::Comment("keep-alive".into()),
                data("{\"a\":1}"),
                data("[DONE]")
            ]
        );
    }

    #[test]
    fn event_split_at_every_byte_is_reassembled() {
        let input = b"data: hello\r\n\r\nevent: error\ndata: x\ndata: y\n\n";
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for b in input {
            p.push(&[*b]).unwrap();
            out.extend(all(&mut p));
        }
        assert_eq!(
            out,
            vec![
                data("hello"),
                SseEvent::Data {
                    event: Some("error".into()),
                    data: "x\ny".into()
                }
            ]
        );
    }

    #[test]
    fn blank_line_after_crlf_split_across_reads_still_ends_the_event() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for piece in [&b"data: a\r"[..], b"\n", b"\n", b"data: b\r\n\n"] {
            p.push(piece).unwrap();
            out.extend(all(&mut p));
        }
        assert_eq!(out, vec![data("a"), data("b")]);
    }

    #[test]
    fn bare_cr_line_endings_work() {
        let mut p = SseParser::new();
        p.push(b"data: a\r\rdata: b\r\r").unwrap();
        assert_eq!(all(&mut p), vec![data("a"), data("b")]);
    }

    #[test]
    fn unterminated_last_event_is_returned_by_finish() {
        let mut p = SseParser::new();
        p.push(b"data: tail").unwrap();
        assert_eq!(all(&mut p), vec![]);
        assert_eq!(p.finish().unwrap(), Some(data("tail")));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut p = SseParser::new();
        p.push(b"data: a\xffb\n\n").unwrap();
        assert_eq!(all(&mut p), vec![data("a\u{fffd}b")]);
    }

    #[test]
    fn data_without_space_after_colon() {
        let mut p = SseParser::new();
        p.push(b"data:{}\n\n").unwrap();
        assert_eq!(all(&mut p), vec![data("{}")]);
    }
}

//! A `multipart/form-data` body (RFC 7578 over RFC 2046), read as it arrives: a push
//! parser fed the body's pieces in whatever sizes the connection gives them, which
//! hands each part's name, file name and bytes to its caller without holding the body
//! in memory (it keeps at most one delimiter's length between two pieces).
//!
//! Ours rather than the framework's: an upload was now and then refused as
//! "incomplete" by the framework's parser although every byte had arrived (the server
//! logged the body's length and hash, equal to what was sent); this one is tested on
//! every way of cutting a body into pieces (`tests` below and `tests/test_portal.rs`).

use std::fmt;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};

use super::respond::Refusal;

/// What the parser hands on, in order: `Start`, any number of `Data`, `End`, for
/// each part.
#[derive(Debug, PartialEq, Eq)]
pub enum Part<'a> {
    Start {
        name: String,
        filename: Option<String>,
    },
    Data(&'a [u8]),
    End,
}

/// Why a body is not a multipart body (English: for the server's log; the client
/// gets a refusal in Chinese).
#[derive(Debug, PartialEq, Eq)]
pub enum Broken {
    /// The body ended before its closing delimiter.
    Incomplete(&'static str),
    /// Something where the format allows nothing else.
    Malformed(&'static str),
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::Incomplete(w) => write!(f, "the multipart body ended early: {w}"),
            Broken::Malformed(w) => write!(f, "the multipart body is malformed: {w}"),
        }
    }
}

/// Where the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the first delimiter (a preamble is skipped).
    Preamble,
    /// Just after a delimiter: `--` ends the body, else padding and CRLF.
    AfterDelimiter,
    /// A part's header lines, up to the empty line.
    Headers,
    /// A part's content, up to the next delimiter.
    Content,
    /// After the closing delimiter: the epilogue is ignored.
    Done,
}

/// Most a part's headers may take (browsers send two or three short lines).
const MAX_HEADERS: usize = 16 << 10;
/// Most padding after a delimiter (RFC 2046 allows spaces and tabs before its CRLF).
const MAX_PADDING: usize = 1 << 10;

pub struct Parser {
    /// CRLF `--` boundary: what ends a part's content.
    delimiter: Vec<u8>,
    finder: memchr::memmem::Finder<'static>,
    buf: Vec<u8>,
    at: At,
}

impl Parser {
    /// A parser for `boundary` (the Content-Type's parameter, without its dashes).
    pub fn new(boundary: &str) -> Parser {
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        let finder = memchr::memmem::Finder::new(&delimiter).into_owned();
        Parser {
            delimiter,
            finder,
            // The body's first delimiter has no CRLF before it: one is assumed, so the
            // same search finds every delimiter.
            buf: b"\r\n".to_vec(),
            at: At::Preamble,
        }
    }

    /// Reads `piece`, handing on every part event it completes. The sink's error stops
    /// the parse and is returned as it is.
    pub fn push<E>(
        &mut self,
        piece: &[u8],
        sink: &mut dyn FnMut(Part<'_>) -> Result<(), E>,
    ) -> Result<(), Pushed<E>> {
        self.buf.extend_from_slice(piece);
        let mut from = 0;
        let r = self.run(&mut from, sink);
        self.buf.drain(..from);
        r
    }

    /// The body has ended: it must have ended with its closing delimiter.
    pub fn finish(&self) -> Result<(), Broken> {
        match self.at {
            At::Done => Ok(()),
            At::Preamble => Err(Broken::Incomplete("no delimiter")),
            At::Content => Err(Broken::Incomplete("a part without its closing delimiter")),
            At::AfterDelimiter | At::Headers => Err(Broken::Incomplete("a part's headers")),
        }
    }

    fn run<E>(
        &mut self,
        from: &mut usize,
        sink: &mut dyn FnMut(Part<'_>) -> Result<(), E>,
    ) -> Result<(), Pushed<E>> {
        let keep = self.delimiter.len() - 1;
        loop {
            let rest = &self.buf[*from..];
            match self.at {
                At::Done => {
                    *from = self.buf.len();
                    return Ok(());
                }
                At::Preamble => match self.finder.find(rest) {
                    Some(i) => {
                        *from += i + self.delimiter.len();
                        self.at = At::AfterDelimiter;
                    }
                    None => {
                        *from += rest.len().saturating_sub(keep);
                        return Ok(());
                    }
                },
                At::AfterDelimiter => {
                    if rest.len() < 2 {
                        return Ok(());
                    }
                    if rest.starts_with(b"--") {
                        self.at = At::Done;
                        continue;
                    }
                    let Some(end) = memchr::memmem::find(rest, b"\r\n") else {
                        if rest.len() > MAX_PADDING {
                            return Err(Pushed::Broken(Broken::Malformed(
                                "no CRLF after a delimiter",
                            )));
                        }
                        return Ok(());
                    };
                    if !rest[..end].iter().all(|&b| b == b' ' || b == b'\t') {
                        return Err(Pushed::Broken(Broken::Malformed("text after a delimiter")));
                    }
                    *from += end + 2;
                    self.at = At::Headers;
                }
                At::Headers => {
                    // A part may have no header lines at all: then the empty line
                    // comes at once.
                    let end = if rest.starts_with(b"\r\n") {
                        Some(0)
                    } else {
                        memchr::memmem::find(rest, b"\r\n\r\n").map(|i| i + 2)
                    };
                    let Some(end) = end else {
                        if rest.len() > MAX_HEADERS {
                            return Err(Pushed::Broken(Broken::Malformed(
                                "a part's headers are too long",
                            )));
                        }
                        return Ok(());
                    };
                    if end > MAX_HEADERS {
                        return Err(Pushed::Broken(Broken::Malformed(
                            "a part's headers are too long",
                        )));
                    }
                    let (name, filename) = disposition(&rest[..end]).map_err(Pushed::Broken)?;
                    *from += end + 2;
                    self.at = At::Content;
                    sink(Part::Start { name, filename }).map_err(Pushed::Sink)?;
                }
                At::Content => match self.finder.find(rest) {
                    Some(i) => {
                        if i > 0 {
                            sink(Part::Data(&rest[..i])).map_err(Pushed::Sink)?;
                        }
                        sink(Part::End).map_err(Pushed::Sink)?;
                        *from += i + self.delimiter.len();
                        self.at = At::AfterDelimiter;
                    }
                    None => {
                        // All but what could be the start of a delimiter cut in two.
                        let n = rest.len().saturating_sub(keep);
                        if n > 0 {
                            sink(Part::Data(&rest[..n])).map_err(Pushed::Sink)?;
                        }
                        *from += n;
                        return Ok(());
                    }
                },
            }
        }
    }
}

/// What stopped a push: the body, or the sink.
#[derive(Debug)]
pub enum Pushed<E> {
    Broken(Broken),
    Sink(E),
}

/// The part's `name` and `filename` from its Content-Disposition header (other
/// headers are ignored; a part without the header is refused).
fn disposition(head: &[u8]) -> Result<(String, Option<String>), Broken> {
    let text = String::from_utf8_lossy(head);
    for line in text.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let params = split_params(value);
        let mut it = params.iter();
        match it.next() {
            Some((kind, None)) if kind.eq_ignore_ascii_case("form-data") => {}
            _ => return Err(Broken::Malformed("a part that is not form-data")),
        }
        let mut name = None;
        let mut filename = None;
        for (k, v) in it {
            match (k.to_ascii_lowercase().as_str(), v) {
                ("name", Some(v)) => name = Some(v.clone()),
                ("filename", Some(v)) => filename = Some(v.clone()),
                _ => {}
            }
        }
        let name = name.ok_or(Broken::Malformed("a part without a name"))?;
        return Ok((name, filename));
    }
    Err(Broken::Malformed("a part without Content-Disposition"))
}

/// `form-data; name="a;b"; filename=x` → [("form-data", None), ("name", "a;b"), …]:
/// split on `;` outside quotes; a quoted value may escape `"` and `\` with `\`.
fn split_params(value: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        // The key (or the disposition type), up to `=` or `;`.
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let key = key.trim().to_string();
        let mut val = None;
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            let mut v = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                v.push(n);
                            }
                        }
                        c => v.push(c),
                    }
                }
                // Anything up to the next `;` after a closing quote is dropped.
                while chars.peek().is_some_and(|c| *c != ';') {
                    chars.next();
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    v.push(c);
                    chars.next();
                }
                v = v.trim().to_string();
            }
            val = Some(v);
        }
        if !key.is_empty() {
            out.push((key, val));
        }
        if chars.next().is_none() {
            return out;
        }
    }
}

/// The boundary of a `multipart/form-data` Content-Type.
pub fn boundary(h: &HeaderMap) -> Option<String> {
    let ct = h.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let params = split_params(ct);
    let (kind, _) = params.first()?;
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let b = params
        .iter()
        .skip(1)
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))?
        .1
        .clone()?;
    // RFC 2046: 1 to 70 characters.
    (!b.is_empty() && b.len() <= 70).then_some(b)
}

/// The refusal for a body that is not a multipart body (its reason to the log).
pub fn refusal(what: &dyn fmt::Display) -> Refusal {
    eprintln!("manyi serve: a multipart body was refused: {what}");
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "bad-request",
        "上传内容不完整或格式不对（multipart/form-data），请重新上传",
    )
}

/// Reads the whole body of a multipart request through `sink`, refusing a body over
/// `limit` bytes with `too_large` (413).
pub async fn read(
    h: &HeaderMap,
    body: Body,
    limit: u64,
    too_large: impl Fn() -> Refusal + Send,
    sink: &mut (dyn FnMut(Part<'_>) -> Result<(), Refusal> + Send),
) -> Result<(), Refusal> {
    use futures_util::StreamExt as _;
    let Some(b) = boundary(h) else {
        return Err(refusal(
            &"no multipart/form-data boundary in the Content-Type",
        ));
    };
    let mut parser = Parser::new(&b);
    let mut stream = body.into_data_stream();
    let mut got = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| refusal(&super::respond::error_chain(&e)))?;
        got += piece.len() as u64;
        if got > limit {
            return Err(too_large());
        }
        match parser.push(&piece, sink) {
            Ok(()) => {}
            Err(Pushed::Sink(r)) => return Err(r),
            Err(Pushed::Broken(b)) => return Err(refusal(&b)),
        }
    }
    parser.finish().map_err(|b| refusal(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A part as read: (name, filename, bytes).
    type Got = (String, Option<String>, Vec<u8>);

    /// The parts of `body` pushed in pieces cut at `cuts`.
    fn parse(boundary: &str, body: &[u8], cuts: &[usize]) -> Result<Vec<Got>, Broken> {
        let mut p = Parser::new(boundary);
        let mut out: Vec<Got> = Vec::new();
        let mut open = false;
        let mut sink = |part: Part<'_>| -> Result<(), ()> {
            match part {
                Part::Start { name, filename } => {
                    assert!(!open, "a part started inside another");
                    open = true;
                    out.push((name, filename, Vec::new()));
                }
                Part::Data(d) => {
                    assert!(open && !d.is_empty());
                    out.last_mut().unwrap().2.extend_from_slice(d);
                }
                Part::End => {
                    assert!(open);
                    open = false;
                }
            }
            Ok(())
        };
        let mut last = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(body.len())).collect();
        cuts.sort_unstable();
        cuts.push(body.len());
        for c in cuts {
            match p.push(&body[last..c], &mut sink) {
                Ok(()) => {}
                Err(Pushed::Broken(b)) => return Err(b),
                Err(Pushed::Sink(())) => unreachable!(),
            }
            last = c;
        }
        p.finish()?;
        Ok(out)
    }

    /// A body written by hand, as a browser writes it.
    fn body(b: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file, data) in parts {
            out.extend_from_slice(format!("--{b}\r\n").as_bytes());
            match file {
                Some(f) => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        out
    }

    /// A small deterministic generator (xorshift), so a failure names its seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn every_cut_of_a_body_gives_the_same_parts() {
        let b = "----manyitestboundary7d2f";
        // Content that looks like a delimiter's start, CRLFs, dashes and a CR at the end.
        let file: &[u8] = b"a,b\r\n--,1\r\n\r\n------manyitestboundary7d2\r\n-\r";
        let whole = body(
            b,
            &[
                ("replaces", None, b"abc"),
                ("file", Some("x.csv"), file),
                ("empty", None, b""),
            ],
        );
        let want = vec![
            ("replaces".to_string(), None, b"abc".to_vec()),
            ("file".to_string(), Some("x.csv".to_string()), file.to_vec()),
            ("empty".to_string(), None, Vec::new()),
        ];
        // Every single cut and every pair of cuts.
        for i in 0..=whole.len() {
            assert_eq!(parse(b, &whole, &[i]).unwrap(), want, "cut at {i}");
            for j in i..=whole.len() {
                assert_eq!(parse(b, &whole, &[i, j]).unwrap(), want, "cuts at {i}, {j}");
            }
        }
        // One byte at a time.
        let all: Vec<usize> = (0..whole.len()).collect();
        assert_eq!(parse(b, &whole, &all).unwrap(), want);
    }

    #[test]
    fn random_bodies_cut_at_random_parse_to_what_was_written() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..500 {
            let b: String = (0..1 + rng.below(40))
                .map(|_| b"-abcXYZ0129'()+_,./:=?"[rng.below(22)] as char)
                .collect();
            let n = rng.below(4);
            let mut parts = Vec::new();
            for k in 0..n {
                // Bytes drawn from an alphabet rich in CR, LF and dashes, with pieces of
                // the delimiter itself (not the whole of it).
                let len = rng.below(300);
                let mut d = Vec::new();
                while d.len() < len {
                    match rng.below(6) {
                        0 => d.extend_from_slice(b"\r\n"),
                        1 => d.push(b'-'),
                        2 => {
                            let del = format!("\r\n--{b}");
                            let cut = rng.below(del.len() - 1);
                            d.extend_from_slice(&del.as_bytes()[..cut]);
                            d.push(b'#');
                        }
                        _ => d.push(rng.below(256) as u8),
                    }
                }
                // A sender picks a boundary its content does not hold.
                let del = format!("\r\n--{b}");
                while let Some(i) = memchr::memmem::find(&d, del.as_bytes()) {
                    d[i + 2] = b'#';
                }
                parts.push((
                    format!("f{k}"),
                    (k % 2 == 1).then(|| format!("名{k}.csv")),
                    d,
                ));
            }
            let refs: Vec<(&str, Option<&str>, &[u8])> = parts
                .iter()
                .map(|(n, f, d)| (n.as_str(), f.as_deref(), d.as_slice()))
                .collect();
            let whole = body(&b, &refs);
            let cuts: Vec<usize> = (0..rng.below(8))
                .map(|_| rng.below(whole.len() + 1))
                .collect();
            let got = parse(&b, &whole, &cuts).unwrap_or_else(|e| panic!("round {round}: {e}"));
            let want: Vec<(String, Option<String>, Vec<u8>)> = parts;
            assert_eq!(got, want, "round {round}, boundary {b:?}, cuts {cuts:?}");
        }
    }

    #[test]
    fn a_body_cut_short_anywhere_is_incomplete() {
        let b = "xyz";
        let whole = body(b, &[("file", Some("a.csv"), b"1,2\r\n3,4")]);
        for end in 0..whole.len() - 2 {
            // The closing delimiter's CRLF is optional: cut before it or not at all.
            let r = parse(b, &whole[..end], &[end / 2]);
            assert!(
                matches!(r, Err(Broken::Incomplete(_))),
                "cut at {end}: {r:?}"
            );
        }
        assert!(parse(b, &whole[..whole.len() - 2], &[]).is_ok());
    }

    #[test]
    fn preamble_padding_and_epilogue_are_skipped() {
        let raw = b"preamble text\r\n--b  \t\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b--\r\nepilogue";
        assert_eq!(
            parse("b", raw, &[3, 20]).unwrap(),
            vec![("a".to_string(), None, b"v".to_vec())]
        );
    }

    #[test]
    fn malformed_parts_are_refused() {
        let cases: [&[u8]; 4] = [
            b"--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--b--",
            b"--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--",
            b"--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--",
            b"--bx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b--",
        ];
        for c in cases {
            assert!(
                matches!(parse("b", c, &[]), Err(Broken::Malformed(_))),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn quoted_names_and_the_boundary_parameter() {
        assert_eq!(
            split_params(r#"form-data; name="a;b"; filename="c \"d\".csv""#),
            vec![
                ("form-data".into(), None),
                ("name".into(), Some("a;b".into())),
                ("filename".into(), Some("c \"d\".csv".into()))
            ]
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=\"a b\"".parse().unwrap(),
        );
        assert_eq!(boundary(&h).as_deref(), Some("a b"));
        h.insert(
            header::CONTENT_TYPE,
            "Multipart/Form-Data;charset=utf-8; BOUNDARY=----x"
                .parse()
                .unwrap(),
        );
        assert_eq!(boundary(&h).as_deref(), Some("----x"));
        h.insert(header::CONTENT_TYPE, "multipart/form-data".parse().unwrap());
        assert_eq!(boundary(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=".parse().unwrap(),
        );
        assert_eq!(boundary(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            "text/plain; boundary=x".parse().unwrap(),
        );
        assert_eq!(boundary(&h), None);
    }
}

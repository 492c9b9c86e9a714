//! The scrubber: every secret value this process knows, and the forms that reveal it,
//! replaced by `***` in whatever passes through. Steps' output passes a
//! [`StreamScrubber`] before it reaches the cache or the screen; results, logs and error
//! messages pass [`scrub`] where the CLI prints them.
//!
//! The forms of a value are: the value itself; each line of a multi-line value (a
//! command may print a key's lines one at a time, or reflow them); the value in base64,
//! standard and URL-safe, padded or not, and the 76-column lines `base64` wraps it in.
//! Lines shorter than [`MIN_PART`] bytes are left out: they are too common to hide
//! without hiding ordinary output.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret value is replaced with.
pub const MASK: &[u8] = b"***";
/// The shortest part of a value (a line, a wrapped base64 line) that is scrubbed alone.
const MIN_PART: usize = 6;

/// Every pattern to hide, longest first, so a value is masked whole before its parts.
static PATTERNS: RwLock<Vec<Vec<u8>>> = RwLock::new(Vec::new());

/// Scrubs `value`, and every form of it, from everything shown from now on.
pub fn register(value: &[u8]) {
    if value.is_empty() {
        return;
    }
    let mut forms: Vec<Vec<u8>> = vec![value.to_vec()];
    let lines: Vec<&[u8]> = value
        .split(|byte| *byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .collect();
    if lines.len() > 1 {
        forms.extend(
            lines
                .iter()
                .filter(|line| line.trim_ascii().len() >= MIN_PART)
                .map(|line| line.trim_ascii().to_vec()),
        );
    }
    for alphabet in [STANDARD, URL_SAFE] {
        let encoded = base64(value, alphabet);
        let unpadded = encoded.trim_end_matches('=').as_bytes().to_vec();
        // `base64` wraps its output at 76 columns.
        forms.extend(encoded.as_bytes().chunks(76).filter(|line| line.len() >= MIN_PART).map(<[u8]>::to_vec));
        forms.push(unpadded);
        forms.push(encoded.into_bytes());
    }
    let Ok(mut patterns) = PATTERNS.write() else {
        return;
    };
    for form in forms {
        if !form.is_empty() && !patterns.contains(&form) {
            patterns.push(form);
        }
    }
    patterns.sort_by_key(|pattern| std::cmp::Reverse(pattern.len()));
}

/// `text` with every known secret form replaced by `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    match scrub_bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Masks replace whole patterns, and a pattern that is part of a UTF-8 sequence
        // can cut it: lossy, never a panic.
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// `bytes` with every known secret form replaced by `***`.
pub fn scrub_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    let Ok(patterns) = PATTERNS.read() else {
        return Cow::Owned(MASK.to_vec());
    };
    if patterns.is_empty() || !patterns.iter().any(|pattern| contains(bytes, pattern)) {
        return Cow::Borrowed(bytes);
    }
    let mut output = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while position < bytes.len() {
        match patterns.iter().find(|pattern| bytes[position..].starts_with(pattern)) {
            Some(pattern) => {
                output.extend_from_slice(MASK);
                position += pattern.len();
            }
            None => {
                output.push(bytes[position]);
                position += 1;
            }
        }
    }
    Cow::Owned(output)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// Scrubs a stream that arrives in chunks (a step's stdout or stderr), where a secret
/// may be split across two chunks: the bytes that could be the start of a secret are
/// held back until the next chunk decides, so at most the longest pattern's length is
/// ever held.
#[derive(Default)]
pub struct StreamScrubber {
    held: Vec<u8>,
}

impl StreamScrubber {
    /// Scrubs `chunk` and hands `emit` what is certain to be shown as it is.
    pub fn push(&mut self, chunk: &[u8], emit: &mut dyn FnMut(&[u8])) {
        let Ok(patterns) = PATTERNS.read() else {
            return emit(MASK);
        };
        if patterns.is_empty() {
            return emit(chunk);
        }
        self.held.extend_from_slice(chunk);
        let mut output = Vec::with_capacity(self.held.len());
        let mut position = 0;
        while position < self.held.len() {
            let rest = &self.held[position..];
            if let Some(pattern) = patterns.iter().find(|pattern| rest.starts_with(pattern)) {
                output.extend_from_slice(MASK);
                position += pattern.len();
            } else if patterns.iter().any(|pattern| pattern.starts_with(rest)) {
                // The rest may still become a secret: wait for more.
                break;
            } else {
                output.push(self.held[position]);
                position += 1;
            }
        }
        self.held.drain(..position);
        if !output.is_empty() {
            emit(&output);
        }
    }

    /// The stream ended: what was held back cannot become a secret any more.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            emit(&scrub_bytes(&held));
        }
    }
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `bytes` in base64 with `alphabet`, padded.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let word = group
            .iter()
            .enumerate()
            .fold(0u32, |word, (index, byte)| word | u32::from(*byte) << (16 - 8 * index));
        for index in 0..4 {
            if index <= group.len() {
                encoded.push(char::from(alphabet[(word >> (18 - 6 * index) & 0x3f) as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    // The patterns are process-wide: each test uses values of its own.

    #[test]
    fn base64_matches_the_reference() {
        assert_eq!(base64(b"", STANDARD), "");
        assert_eq!(base64(b"f", STANDARD), "Zg==");
        assert_eq!(base64(b"fo", STANDARD), "Zm8=");
        assert_eq!(base64(b"foo", STANDARD), "Zm9v");
        assert_eq!(base64(b"foobar", STANDARD), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE), "-_8=");
    }

    #[test]
    fn masks_values_their_lines_and_their_base64() {
        register(b"scrub-test-token-1");
        register(b"-----BEGIN KEY-----\nline-one-of-the-key\nline-two-of-the-key\n-----END KEY-----");
        assert_eq!(scrub("token=scrub-test-token-1!"), "token=***!");
        assert_eq!(scrub(&format!("b64 {}", base64(b"scrub-test-token-1", STANDARD))), "b64 ***");
        assert_eq!(scrub("got line-two-of-the-key only"), "got *** only");
        assert_eq!(
            scrub("-----BEGIN KEY-----\nline-one-of-the-key\nline-two-of-the-key\n-----END KEY-----\n"),
            "***\n"
        );
        assert_eq!(scrub("nothing secret"), "nothing secret");
    }

    #[test]
    fn masks_a_value_split_across_chunks() {
        register(b"split-stream-secret");
        let mut scrubber = StreamScrubber::default();
        let mut shown = Vec::new();
        for chunk in [&b"before split-str"[..], b"eam-sec", b"ret after split-"] {
            scrubber.push(chunk, &mut |bytes| shown.extend_from_slice(bytes));
        }
        scrubber.finish(&mut |bytes| shown.extend_from_slice(bytes));
        assert_eq!(String::from_utf8(shown).unwrap(), "before *** after split-");
    }
}

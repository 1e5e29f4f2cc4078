//! The splitter: never panics, statements come in order without overlapping, and
//! everything between them is whitespace, `;` or comments — so splitting and joining
//! the statements back keeps every byte outside comments.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Skips (ASCII) whitespace, `;` and comments; returns false on anything else.
fn only_separators(mut gap: &str) -> bool {
    loop {
        gap = gap.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ';');
        if gap.is_empty() {
            return true;
        }
        if gap.starts_with("--") || gap.starts_with("//") {
            gap = gap.find('\n').map_or("", |i| &gap[i..]);
        } else if let Some(rest) = gap.strip_prefix("/*") {
            match rest.find("*/") {
                Some(i) => gap = &rest[i + 2..],
                None => return false,
            }
        } else {
            return false;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let (statements, err) = cassachange::cql::split(src);
    let base = src.as_ptr() as usize;
    // A byte-order mark at the start is not part of the script (Python reads it away too).
    let mut at = if src.starts_with('\u{feff}') { 3 } else { 0 };
    for st in &statements {
        let start = st.text.as_ptr() as usize - base;
        assert!(start >= at, "statements overlap or go backwards");
        assert!(start + st.text.len() <= src.len());
        // CQL's whitespace is ASCII (a vertical tab or a no-break space is a token).
        let trimmed = st.text.trim_matches(|c: char| c.is_ascii_whitespace());
        assert!(!st.text.is_empty() && trimmed == st.text);
        if err.is_none() {
            assert!(
                only_separators(&src[at..start]),
                "lost bytes before {start}"
            );
        }
        at = start + st.text.len();
    }
    if err.is_none() {
        assert!(only_separators(&src[at..]), "lost bytes at the end");
    }
});

//! Defines the CQL lexer: tokens with line:column positions, comments skipped.

use std::fmt;

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// The kinds of token the splitter and linter need to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or unquoted identifier.
    Word,
    /// A `"quoted identifier"` (with `""` escapes).
    QuotedIdent,
    /// A `'string'` literal (with `''` escapes).
    Str,
    /// A `$$ … $$` literal or function body.
    DollarStr,
    /// A number, a `0x` blob, or the leading digits of a UUID or duration.
    Number,
    /// Any other single character: `( ) [ ] { } ; , . = < > + - * / ? : !` and so on.
    Punct,
}

/// One token: its kind, its text in the source, and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What it is.
    pub kind: TokenKind,
    /// Its exact text, quotes included.
    pub text: &'a str,
    /// Byte offset in the source.
    pub offset: usize,
    /// Line and column of its first character.
    pub pos: Pos,
}

impl Token<'_> {
    /// True for a word equal to `kw`, ignoring case.
    pub fn is_kw(&self, kw: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(kw)
    }

    /// True for the punctuation character `c`.
    pub fn is_punct(&self, c: char) -> bool {
        self.kind == TokenKind::Punct && self.text.len() == c.len_utf8() && self.text.starts_with(c)
    }

    /// Byte offset just past the token.
    pub fn end(&self) -> usize {
        self.offset + self.text.len()
    }
}

/// A construct that runs to the end of the file without being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    /// `'…` with no closing quote.
    #[error("unterminated string literal starting here (a ' is never closed)")]
    UnterminatedString(Pos),
    /// `"…` with no closing quote.
    #[error("unterminated quoted identifier starting here (a \" is never closed)")]
    UnterminatedIdent(Pos),
    /// `$$…` with no closing `$$`.
    #[error("unterminated $$ body starting here (no closing $$)")]
    UnterminatedDollar(Pos),
    /// `/*…` with no closing `*/`.
    #[error("unterminated block comment starting here (no closing */)")]
    UnterminatedComment(Pos),
}

impl LexError {
    /// Where the unclosed construct starts.
    pub fn pos(&self) -> Pos {
        match *self {
            LexError::UnterminatedString(p)
            | LexError::UnterminatedIdent(p)
            | LexError::UnterminatedDollar(p)
            | LexError::UnterminatedComment(p) => p,
        }
    }
}

/// A byte cursor. Every construct the lexer looks for is ASCII, so it scans bytes;
/// non-ASCII bytes only ever belong to words, literals and comments, and columns count
/// characters by skipping UTF-8 continuation bytes.
struct Cursor<'a> {
    src: &'a [u8],
    offset: usize,
    line: u32,
    col: u32,
}

impl Cursor<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.offset).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.src.get(self.offset + n).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.offset += 1;
        if b == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.col += 1;
        }
        Some(b)
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.src[self.offset..].starts_with(s)
    }

    fn eat_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.bump();
        }
    }

    /// Consumes up to and including `close`; false at end of input.
    fn until(&mut self, close: &[u8]) -> bool {
        loop {
            if self.starts_with(close) {
                for _ in 0..close.len() {
                    self.bump();
                }
                return true;
            }
            if self.bump().is_none() {
                return false;
            }
        }
    }

    /// Consumes a quoted run closed by `q`, where `qq` is an escaped quote.
    /// Returns false at end of input.
    fn quoted(&mut self, q: u8) -> bool {
        self.bump();
        while let Some(c) = self.bump() {
            if c == q {
                if self.peek() == Some(q) {
                    self.bump();
                } else {
                    return true;
                }
            }
        }
        false
    }
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Splits `src` into tokens, skipping whitespace and `--`, `//` and `/* */` comments.
/// On an unterminated construct, returns the tokens before it and the error.
pub fn lex(src: &str) -> (Vec<Token<'_>>, Option<LexError>) {
    // A UTF-8 byte-order mark is part of the text (and of its checksum) but not of
    // any statement; editors do not count it as a column.
    let mut cur = Cursor {
        src: src.as_bytes(),
        offset: if src.starts_with('\u{feff}') { 3 } else { 0 },
        line: 1,
        col: 1,
    };
    let mut tokens = Vec::with_capacity(src.len() / 6);
    while let Some(c) = cur.peek() {
        let start = cur.offset;
        let pos = cur.pos();
        let kind = if c.is_ascii_whitespace() {
            cur.bump();
            continue;
        } else if cur.starts_with(b"--") || cur.starts_with(b"//") {
            cur.eat_while(|c| c != b'\n');
            continue;
        } else if cur.starts_with(b"/*") {
            cur.bump();
            cur.bump();
            if !cur.until(b"*/") {
                return (tokens, Some(LexError::UnterminatedComment(pos)));
            }
            continue;
        } else if c == b'\'' {
            if !cur.quoted(b'\'') {
                return (tokens, Some(LexError::UnterminatedString(pos)));
            }
            TokenKind::Str
        } else if c == b'"' {
            if !cur.quoted(b'"') {
                return (tokens, Some(LexError::UnterminatedIdent(pos)));
            }
            TokenKind::QuotedIdent
        } else if cur.starts_with(b"$$") {
            cur.bump();
            cur.bump();
            if !cur.until(b"$$") {
                return (tokens, Some(LexError::UnterminatedDollar(pos)));
            }
            TokenKind::DollarStr
        } else if c.is_ascii_digit()
            || (c == b'.' && cur.peek_at(1).is_some_and(|d| d.is_ascii_digit()))
        {
            lex_number(&mut cur);
            TokenKind::Number
        } else if is_word_start(c) {
            cur.eat_while(is_word_char);
            TokenKind::Word
        } else {
            cur.bump();
            TokenKind::Punct
        };
        tokens.push(Token {
            kind,
            text: &src[start..cur.offset],
            offset: start,
            pos,
        });
    }
    (tokens, None)
}

/// Numbers: `12`, `1.5`, `-` is separate, `1e10`, `0xCAFE`, and the alphanumeric
/// tails of UUIDs and durations (`123e4567`, `1h30m`) stay in one token.
fn lex_number(cur: &mut Cursor<'_>) {
    if cur.starts_with(b"0x") || cur.starts_with(b"0X") {
        cur.bump();
        cur.bump();
        cur.eat_while(|c| c.is_ascii_hexdigit());
        return;
    }
    cur.eat_while(|c| c.is_ascii_digit());
    if cur.peek() == Some(b'.') && cur.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
        cur.bump();
        cur.eat_while(|c| c.is_ascii_digit());
    }
    if matches!(cur.peek(), Some(b'e' | b'E'))
        && matches!(cur.peek_at(1), Some(b'+' | b'-'))
        && cur.peek_at(2).is_some_and(|d| d.is_ascii_digit())
    {
        cur.bump();
        cur.bump();
    }
    cur.eat_while(is_word_char);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokenKind, &str)> {
        let (t, e) = lex(src);
        assert_eq!(e, None, "{src}");
        t.into_iter().map(|t| (t.kind, t.text)).collect()
    }

    use TokenKind::*;

    #[test]
    fn strings_with_doubled_quotes_and_semicolons() {
        assert_eq!(
            kinds("INSERT INTO t (a) VALUES ('it''s; fine');"),
            [
                (Word, "INSERT"),
                (Word, "INTO"),
                (Word, "t"),
                (Punct, "("),
                (Word, "a"),
                (Punct, ")"),
                (Word, "VALUES"),
                (Punct, "("),
                (Str, "'it''s; fine'"),
                (Punct, ")"),
                (Punct, ";")
            ]
        );
    }

    #[test]
    fn quoted_identifiers_with_doubled_quotes() {
        assert_eq!(
            kinds(r#"SELECT "Weird ""col"";" FROM "MyTable""#),
            [
                (Word, "SELECT"),
                (QuotedIdent, r#""Weird ""col"";""#),
                (Word, "FROM"),
                (QuotedIdent, r#""MyTable""#)
            ]
        );
    }

    #[test]
    fn dollar_bodies_keep_semicolons_and_quotes() {
        let src = "AS $$ return a; // it's 'fine' $$;";
        assert_eq!(
            kinds(src),
            [
                (Word, "AS"),
                (DollarStr, "$$ return a; // it's 'fine' $$"),
                (Punct, ";")
            ]
        );
    }

    #[test]
    fn all_comment_styles_are_skipped() {
        let src = "-- a ; 'x\nSELECT /* ; \" */ 1 // ;\n; -- end";
        assert_eq!(kinds(src), [(Word, "SELECT"), (Number, "1"), (Punct, ";")]);
    }

    #[test]
    fn numbers_blobs_uuids_durations() {
        assert_eq!(kinds("0xCAFE")[0], (Number, "0xCAFE"));
        assert_eq!(kinds("1.5e-3")[0], (Number, "1.5e-3"));
        assert_eq!(kinds("1h30m")[0], (Number, "1h30m"));
        assert_eq!(kinds("123e4567-e89b").len(), 3);
        assert_eq!(kinds("-1"), [(Punct, "-"), (Number, "1")]);
    }

    #[test]
    fn a_leading_bom_is_skipped() {
        let (t, e) = lex("\u{feff}SELECT 1");
        assert_eq!(e, None);
        assert_eq!(
            (t[0].text, t[0].pos.to_string()),
            ("SELECT", "1:1".to_string())
        );
    }

    #[test]
    fn positions_are_line_and_column() {
        let (t, _) = lex("SELECT\n  x, é FROM t");
        let p: Vec<String> = t.iter().map(|t| t.pos.to_string()).collect();
        assert_eq!(p, ["1:1", "2:3", "2:4", "2:6", "2:8", "2:13"]);
    }

    #[test]
    fn unterminated_constructs_report_their_start() {
        assert_eq!(
            lex("SELECT 'abc;\n").1,
            Some(LexError::UnterminatedString(Pos { line: 1, col: 8 }))
        );
        assert_eq!(
            lex("x\n \"abc").1,
            Some(LexError::UnterminatedIdent(Pos { line: 2, col: 2 }))
        );
        assert_eq!(
            lex("AS $$ body").1,
            Some(LexError::UnterminatedDollar(Pos { line: 1, col: 4 }))
        );
        assert_eq!(
            lex("/* c").1,
            Some(LexError::UnterminatedComment(Pos { line: 1, col: 1 }))
        );
        assert_eq!(lex("'it''s'").1, None);
        assert_eq!(
            lex("'it'''").1,
            None,
            "a doubled quote then the closing one"
        );
        assert_eq!(
            lex("'it''").1,
            Some(LexError::UnterminatedString(Pos { line: 1, col: 1 }))
        );
    }
}

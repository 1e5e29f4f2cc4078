//! Defines the offline CQL linter behind `validate`: typos in verbs, object types and
//! sub-commands (with did-you-mean), unbalanced brackets, missing semicolons, empty
//! scripts and unterminated literals, with no false error on valid Cassandra 5.0 CQL.
//!
//! It checks only what the grammar makes certain from the first few keywords of a
//! statement and from bracket structure; everything past that is the server's job.

use serde::Serialize;

use super::lexer::{LexError, Pos, Token, TokenKind};
use super::split::{batch_body, split, Statement};
use super::target::Target;
use crate::suggest;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails validation.
    Error,
    /// Reported; validation still passes.
    Warning,
}

/// The rule a finding comes from; its `code()` is stable for CI tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A statement starts with a word that is no CQL verb.
    UnknownVerb,
    /// A word after CREATE/ALTER/DROP that names no object type.
    UnknownObjectType,
    /// An ALTER sub-command the object does not have.
    UnknownSubcommand,
    /// `IF [NOT] EXISTS` misspelt.
    BadIfExists,
    /// A required keyword is missing or misspelt (`INSERT INTO`, `MATERIALIZED VIEW`…).
    ExpectedKeyword,
    /// A batch that holds something other than INSERT/UPDATE/DELETE, or is not closed.
    BadBatch,
    /// `( [ {` not matched.
    UnbalancedBrackets,
    /// The last statement has no `;`.
    MissingSemicolon,
    /// The file holds nothing but whitespace.
    EmptyScript,
    /// The file holds only comments.
    NoStatements,
    /// A string, identifier, `$$` body or block comment is never closed.
    Unterminated,
    /// A control character (NUL, …) outside strings and comments: not CQL text.
    ControlCharacter,
    /// Two versioned (or two undo) scripts share a version.
    DuplicateVersion,
    /// Two scripts share a file name (history is keyed by file name).
    DuplicateName,
    /// An undo script with no versioned script of its version.
    OrphanUndo,
    /// A `.cql` file that follows no naming convention.
    UnrecognisedName,
    /// A file that is not UTF-8 or cannot be read.
    Unreadable,
    /// `USE` in a migration: it switches the keyspace for the rest of that script only.
    UseStatement,
    /// Something the deploy target refuses (`--target astra`: materialized views, …).
    TargetUnsupported,
    /// Something the deploy target ignores (AstraDB: most table options).
    TargetIgnored,
}

impl Rule {
    /// Severity of the rule.
    pub fn severity(self) -> Severity {
        match self {
            Rule::NoStatements | Rule::UnrecognisedName | Rule::UseStatement => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// One problem found in a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Where, when it has a place in the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
    /// What is wrong.
    pub message: String,
    /// What would be right, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Serialize for Pos {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Pos", 2)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("column", &self.col)?;
        st.end()
    }
}

impl Finding {
    fn at(rule: Rule, pos: Pos, message: String) -> Self {
        Finding {
            rule,
            pos: Some(pos),
            message,
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The result of linting one script.
#[derive(Debug, Clone, Default)]
pub struct ScriptLint {
    /// Problems, in file order.
    pub findings: Vec<Finding>,
    /// Number of executable statements.
    pub statements: usize,
}

const VERBS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "CREATE", "ALTER", "DROP", "TRUNCATE", "USE",
    "GRANT", "REVOKE", "LIST", "DESCRIBE", "DESC", "ADD",
];
const CREATE_OBJECTS: &[&str] = &[
    "KEYSPACE",
    "SCHEMA",
    "TABLE",
    "COLUMNFAMILY",
    "INDEX",
    "TYPE",
    "FUNCTION",
    "AGGREGATE",
    "MATERIALIZED",
    "TRIGGER",
    "ROLE",
    "USER",
];
const DROP_OBJECTS: &[&str] = &[
    "KEYSPACE",
    "SCHEMA",
    "TABLE",
    "COLUMNFAMILY",
    "INDEX",
    "TYPE",
    "FUNCTION",
    "AGGREGATE",
    "MATERIALIZED",
    "TRIGGER",
    "ROLE",
    "USER",
    "IDENTITY",
];
const ALTER_OBJECTS: &[&str] = &[
    "KEYSPACE",
    "SCHEMA",
    "TABLE",
    "COLUMNFAMILY",
    "TYPE",
    "MATERIALIZED",
    "ROLE",
    "USER",
];
const ALTER_TABLE_SUBCOMMANDS: &[&str] = &["ADD", "ALTER", "DROP", "RENAME", "WITH"];
const ALTER_TYPE_SUBCOMMANDS: &[&str] = &["ADD", "ALTER", "RENAME"];
const WITH_ONLY: &[&str] = &["WITH"];
const BATCH_VERBS: &[&str] = &["INSERT", "UPDATE", "DELETE"];

/// Lints one script's text for Apache Cassandra.
pub fn lint_script(src: &str) -> ScriptLint {
    lint_script_for(src, Target::Cassandra)
}

/// Lints one script's text, with the rules of `target` too.
pub fn lint_script_for(src: &str, target: Target) -> ScriptLint {
    let mut out = ScriptLint::default();
    if src.trim().is_empty() {
        out.findings.push(Finding {
            rule: Rule::EmptyScript,
            pos: None,
            message: "empty script: the file has no content".into(),
            hint: Some("add the CQL statements to run, or delete the file".into()),
        });
        return out;
    }
    let (stmts, lex_err) = split(src);
    out.statements = stmts.len();
    let complete = if lex_err.is_some() && !stmts.is_empty() {
        // The statement cut by the unterminated construct is not checked further.
        stmts.len() - usize::from(!stmts[stmts.len() - 1].terminated)
    } else {
        stmts.len()
    };
    for stmt in &stmts[..complete] {
        lint_statement(stmt, &mut out.findings);
        super::target::findings(target, stmt, &mut out.findings);
    }
    if let Some(err) = lex_err {
        out.findings.push(unterminated(err));
    } else if let Some(last) = stmts.last() {
        let unclosed_batch =
            last.is_batch() && out.findings.iter().any(|f| f.rule == Rule::BadBatch);
        if !last.terminated && !unclosed_batch {
            out.findings.push(
                Finding::at(
                    Rule::MissingSemicolon,
                    last.end,
                    "the last statement is missing its terminating ';'".into(),
                )
                .hint("end every statement with ';'"),
            );
        }
    }
    if stmts.is_empty() && lex_err.is_none() {
        out.findings.push(Finding {
            rule: Rule::NoStatements,
            pos: None,
            message: "no executable statements: the file holds only comments".into(),
            hint: Some("it will be recorded as applied without running anything".into()),
        });
    }
    out
}

fn unterminated(err: LexError) -> Finding {
    let hint = match err {
        LexError::UnterminatedString(_) => {
            "close the string with ' (write '' for a quote inside it)"
        }
        LexError::UnterminatedIdent(_) => {
            "close the identifier with \" (write \"\" for a quote inside it)"
        }
        LexError::UnterminatedDollar(_) => "close the body with $$",
        LexError::UnterminatedComment(_) => "close the comment with */",
    };
    Finding::at(Rule::Unterminated, err.pos(), err.to_string()).hint(hint)
}

fn lint_statement(stmt: &Statement<'_>, findings: &mut Vec<Finding>) {
    check_brackets(&stmt.tokens, findings);
    if let Some(t) = stmt.tokens.iter().find(|t| {
        t.kind == TokenKind::Punct && t.text.chars().all(|c| c.is_control() && !c.is_whitespace())
    }) {
        let c = t.text.chars().next().unwrap_or('\0');
        findings.push(
            Finding::at(
                Rule::ControlCharacter,
                t.pos,
                format!(
                    "control character U+{:04X} outside a string: not CQL",
                    u32::from(c)
                ),
            )
            .hint(
                "is this a text file? remove the character (an editor that shows invisibles helps)",
            ),
        );
    }
    let toks = &stmt.tokens;
    let first = toks[0];
    if first.kind != TokenKind::Word {
        findings.push(
            Finding::at(
                Rule::UnknownVerb,
                first.pos,
                format!("a statement cannot start with {}", describe(&first)),
            )
            .hint(format!(
                "statements start with one of: {}",
                VERBS.join(", ")
            )),
        );
        return;
    }
    let verb = first.text.to_ascii_uppercase();
    let mut c = Cursor { toks, i: 1 };
    match verb.as_str() {
        "CREATE" => check_create(&mut c, findings),
        "DROP" => check_drop(&mut c, findings),
        "ALTER" => check_alter(&mut c, findings),
        "BEGIN" => check_batch(stmt, findings),
        "INSERT" => {
            expect_kw(&mut c, "INTO", "INSERT", findings);
        }
        "USE" => findings.push(
            Finding::at(
                Rule::UseStatement,
                first.pos,
                "USE in a migration switches the keyspace for the rest of this script only: \
                 cassachange sets the target keyspace before every script"
                    .into(),
            )
            .hint("drop the USE; qualify names (other_keyspace.table) where a script must reach another keyspace"),
        ),
        "APPLY" => findings.push(
            Finding::at(
                Rule::BadBatch,
                first.pos,
                "APPLY BATCH without a matching BEGIN BATCH".into(),
            )
            .hint("start the batch with BEGIN [UNLOGGED | COUNTER] BATCH"),
        ),
        v if VERBS.contains(&v) => {}
        _ => findings.push(unknown(
            Rule::UnknownVerb,
            &first,
            "CQL statement verb",
            VERBS,
        )),
    }
}

struct Cursor<'s, 'a> {
    toks: &'s [Token<'a>],
    i: usize,
}

impl<'a> Cursor<'_, 'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.toks.get(self.i).copied()
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_kw(kw)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Skips a possibly qualified name: `name`, `"Name"`, `ks.name`.
    fn skip_name(&mut self) -> bool {
        let is_name = |t: Token<'_>| matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent);
        if !self.peek().is_some_and(is_name) {
            return false;
        }
        self.i += 1;
        if self.peek().is_some_and(|t| t.is_punct('.'))
            && self.toks.get(self.i + 1).is_some_and(|t| is_name(*t))
        {
            self.i += 2;
        }
        true
    }
}

fn describe(tok: &Token<'_>) -> String {
    match tok.kind {
        TokenKind::Str => "a string literal".into(),
        TokenKind::QuotedIdent => format!("the quoted identifier {}", tok.text),
        TokenKind::DollarStr => "a $$ literal".into(),
        TokenKind::Number => format!("the number {}", tok.text),
        _ => format!("'{}'", tok.text),
    }
}

fn unknown(rule: Rule, tok: &Token<'_>, what: &str, valid: &[&str]) -> Finding {
    let word = tok.text.to_ascii_uppercase();
    let s = suggest::did_you_mean(&word, valid.iter().copied());
    let message = format!("unknown {what} '{}'{s}", tok.text);
    Finding::at(rule, tok.pos, message).hint(format!("valid: {}", valid.join(", ")))
}

/// Requires `kw` next; reports a typo with a suggestion.
fn expect_kw(c: &mut Cursor<'_, '_>, kw: &str, after: &str, findings: &mut Vec<Finding>) -> bool {
    if c.eat_kw(kw) {
        return true;
    }
    let (pos, got) = match c.peek() {
        Some(t) => (t.pos, format!("found {}", describe(&t))),
        None => (c.toks[c.i - 1].pos, "found the end of the statement".into()),
    };
    let s = c
        .peek()
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| suggest::did_you_mean(&t.text.to_ascii_uppercase(), [kw]))
        .unwrap_or_default();
    let msg = format!("expected {kw} after {after}, {got}{s}");
    findings.push(Finding::at(Rule::ExpectedKeyword, pos, msg));
    false
}

/// After an object keyword: `IF NOT EXISTS` (create) or `IF EXISTS` (drop/alter).
fn check_if(c: &mut Cursor<'_, '_>, not: bool, findings: &mut Vec<Finding>) -> bool {
    let Some(first) = c.peek() else { return true };
    if !first.is_kw("IF") {
        return true;
    }
    c.i += 1;
    let want = if not { "IF NOT EXISTS" } else { "IF EXISTS" };
    let ok = (!not || c.eat_kw("NOT")) && c.eat_kw("EXISTS");
    if !ok {
        let pos = c.peek().map_or(first.pos, |t| t.pos);
        findings.push(
            Finding::at(
                Rule::BadIfExists,
                pos,
                format!("malformed condition: expected {want}"),
            )
            .hint(want),
        );
    }
    ok
}

/// Reads the object keyword after CREATE/ALTER/DROP; handles `MATERIALIZED VIEW`.
fn object(
    c: &mut Cursor<'_, '_>,
    verb: &str,
    valid: &[&str],
    findings: &mut Vec<Finding>,
) -> Option<String> {
    let Some(tok) = c.peek() else {
        findings.push(
            Finding::at(
                Rule::UnknownObjectType,
                c.toks[c.i - 1].pos,
                format!("{verb} needs an object type"),
            )
            .hint(format!("valid: {}", valid.join(", "))),
        );
        return None;
    };
    let word = tok.text.to_ascii_uppercase();
    if tok.kind != TokenKind::Word || !valid.contains(&word.as_str()) {
        findings.push(unknown(
            Rule::UnknownObjectType,
            &tok,
            &format!("{verb} object type"),
            valid,
        ));
        return None;
    }
    c.i += 1;
    if word == "MATERIALIZED" && !expect_kw(c, "VIEW", "MATERIALIZED", findings) {
        return None;
    }
    Some(word)
}

fn check_create(c: &mut Cursor<'_, '_>, findings: &mut Vec<Finding>) {
    let mut or_replace = false;
    if c.eat_kw("OR") {
        if !expect_kw(c, "REPLACE", "CREATE OR", findings) {
            return;
        }
        or_replace = true;
    }
    if c.eat_kw("CUSTOM") && !c.peek().is_some_and(|t| t.is_kw("INDEX")) {
        expect_kw(c, "INDEX", "CREATE CUSTOM", findings);
        return;
    }
    let Some(obj) = object(c, "CREATE", CREATE_OBJECTS, findings) else {
        return;
    };
    if or_replace && obj != "FUNCTION" && obj != "AGGREGATE" {
        findings.push(
            Finding::at(
                Rule::UnknownObjectType,
                c.toks[c.i - 1].pos,
                format!("CREATE OR REPLACE does not apply to {obj}"),
            )
            .hint("only FUNCTION and AGGREGATE can be created OR REPLACE; use IF NOT EXISTS"),
        );
        return;
    }
    if or_replace && c.peek().is_some_and(|t| t.is_kw("IF")) {
        findings.push(
            Finding::at(
                Rule::BadIfExists,
                c.peek().map_or(c.toks[c.i - 1].pos, |t| t.pos),
                "CREATE OR REPLACE cannot be combined with IF NOT EXISTS".into(),
            )
            .hint("keep one of OR REPLACE (overwrite) or IF NOT EXISTS (keep the existing one)"),
        );
        return;
    }
    check_if(c, true, findings);
}

fn check_drop(c: &mut Cursor<'_, '_>, findings: &mut Vec<Finding>) {
    if object(c, "DROP", DROP_OBJECTS, findings).is_some() {
        check_if(c, false, findings);
    }
}

fn check_alter(c: &mut Cursor<'_, '_>, findings: &mut Vec<Finding>) {
    let Some(obj) = object(c, "ALTER", ALTER_OBJECTS, findings) else {
        return;
    };
    if !check_if(c, false, findings) || !c.skip_name() {
        return;
    }
    let (label, valid) = match obj.as_str() {
        "TABLE" | "COLUMNFAMILY" => ("ALTER TABLE", ALTER_TABLE_SUBCOMMANDS),
        "TYPE" => ("ALTER TYPE", ALTER_TYPE_SUBCOMMANDS),
        "KEYSPACE" | "SCHEMA" => ("ALTER KEYSPACE", WITH_ONLY),
        "MATERIALIZED" => ("ALTER MATERIALIZED VIEW", WITH_ONLY),
        _ => return,
    };
    let Some(tok) = c.peek() else {
        findings.push(
            Finding::at(
                Rule::UnknownSubcommand,
                c.toks[c.i - 1].pos,
                format!("{label} needs a sub-command after the name"),
            )
            .hint(format!("valid: {}", valid.join(", "))),
        );
        return;
    };
    let word = tok.text.to_ascii_uppercase();
    if tok.kind != TokenKind::Word || !valid.contains(&word.as_str()) {
        findings.push(unknown(
            Rule::UnknownSubcommand,
            &tok,
            &format!("{label} sub-command"),
            valid,
        ));
        return;
    }
    c.i += 1;
    if word != "WITH" {
        check_if(c, word == "ADD", findings);
    }
}

fn check_batch(stmt: &Statement<'_>, findings: &mut Vec<Finding>) {
    let toks = &stmt.tokens;
    let mut c = Cursor { toks, i: 1 };
    if !(c.eat_kw("UNLOGGED") || c.eat_kw("COUNTER")) {
        if let Some(t) = c.peek().filter(|t| !t.is_kw("BATCH")) {
            findings.push(unknown(
                Rule::BadBatch,
                &t,
                "batch type",
                &["BATCH", "UNLOGGED", "COUNTER"],
            ));
            return;
        }
    }
    if !expect_kw(&mut c, "BATCH", "BEGIN", findings) {
        return;
    }
    let n = toks.len();
    if !(n >= 2 && toks[n - 2].is_kw("APPLY") && toks[n - 1].is_kw("BATCH")) {
        findings.push(
            Finding::at(
                Rule::BadBatch,
                stmt.pos,
                "this batch is never closed with APPLY BATCH".into(),
            )
            .hint("end the batch with APPLY BATCH;"),
        );
        return;
    }
    for inner in batch_body(stmt) {
        let t = inner[0];
        let word = t.text.to_ascii_uppercase();
        if t.kind != TokenKind::Word || !BATCH_VERBS.contains(&word.as_str()) {
            let mut f = unknown(Rule::BadBatch, &t, "statement in a batch", BATCH_VERBS);
            f.hint = Some("a batch holds only INSERT, UPDATE and DELETE statements".into());
            findings.push(f);
        } else if word == "INSERT" {
            let mut ic = Cursor { toks: inner, i: 1 };
            expect_kw(&mut ic, "INTO", "INSERT", findings);
        }
    }
}

fn check_brackets(toks: &[Token<'_>], findings: &mut Vec<Finding>) {
    let mut stack: Vec<Token<'_>> = Vec::new();
    for t in toks.iter().filter(|t| t.kind == TokenKind::Punct) {
        let close_for = |open: &str| match open {
            "(" => ")",
            "[" => "]",
            _ => "}",
        };
        match t.text {
            "(" | "[" | "{" => stack.push(*t),
            ")" | "]" | "}" => match stack.pop() {
                Some(open) if close_for(open.text) == t.text => {}
                Some(open) => {
                    findings.push(
                        Finding::at(
                            Rule::UnbalancedBrackets,
                            t.pos,
                            format!(
                                "unbalanced brackets: '{}' here closes the '{}' opened at {}",
                                t.text, open.text, open.pos
                            ),
                        )
                        .hint(format!("expected '{}'", close_for(open.text))),
                    );
                    return;
                }
                None => {
                    findings.push(Finding::at(
                        Rule::UnbalancedBrackets,
                        t.pos,
                        format!(
                            "unbalanced brackets: unexpected '{}' with nothing open",
                            t.text
                        ),
                    ));
                    return;
                }
            },
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        findings.push(
            Finding::at(
                Rule::UnbalancedBrackets,
                open.pos,
                format!(
                    "unbalanced brackets: '{}' is never closed ({} unclosed in this statement)",
                    open.text,
                    stack.len()
                ),
            )
            .hint(format!(
                "add '{}'",
                match open.text {
                    "(" => ")",
                    "[" => "]",
                    _ => "}",
                }
            )),
        );
    }
}

#[cfg(test)]
#[path = "lint_tests.rs"]
mod tests;

//! Defines the CQL front end shared by execution and `validate`: one lexer, the
//! statement splitter built on it, and the linter.
//!
//! Deploy executes exactly the statements the linter checked, so a script that
//! validates is split the same way when it runs.

mod lexer;
mod lint;
mod split;
pub mod suggest;
pub mod target;

pub use lexer::{lex, LexError, Pos, Token, TokenKind};
pub use lint::{lint_script, lint_script_for, Finding, Rule, Severity};
pub use split::{changes_schema, split, Statement};
pub use target::Target;

//! Defines migration-script discovery: the recursive walk, classification by file name,
//! and checksums identical to the Python tool's.
//!
//! Naming (prefixes case-insensitive, like the original): `V<version>__<desc>.cql`
//! versioned, `U<version>__<desc>.cql` undo, `R__<desc>.cql` repeatable,
//! `A__<desc>.cql` always. Folders never affect order: versioned scripts sort globally
//! by version, then repeatable, then always scripts by relative path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::version::Version;

/// The four kinds of script, with the names stored in `change_history.script_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScriptKind {
    /// `V…__`: runs once, in version order.
    Versioned,
    /// `U…__`: undoes the versioned script of the same version, on rollback.
    Undo,
    /// `R__`: runs again whenever its checksum changes.
    Repeatable,
    /// `A__`: runs on every deploy.
    Always,
}

impl ScriptKind {
    /// The value of `change_history.script_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptKind::Versioned => "versioned",
            ScriptKind::Undo => "undo",
            ScriptKind::Repeatable => "repeatable",
            ScriptKind::Always => "always",
        }
    }
}

impl fmt::Display for ScriptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a file name says about a script, before its content is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptName {
    /// The script's kind.
    pub kind: ScriptKind,
    /// The version, for versioned and undo scripts.
    pub version: Option<Version>,
    /// The description with `_` turned into spaces, as the original stores it.
    pub description: String,
}

/// Classifies a file name; `None` when it follows none of the conventions.
pub fn parse_name(filename: &str) -> Option<ScriptName> {
    let lower = filename.to_ascii_lowercase();
    let stem_len = lower.strip_suffix(".cql")?.len();
    let stem = &filename[..stem_len];
    let mut chars = stem.chars();
    let prefix = chars.next()?.to_ascii_uppercase();
    let rest = chars.as_str();
    let (kind, version, desc) = match prefix {
        'V' | 'U' => {
            let digits_end = version_prefix_len(rest);
            if digits_end == 0 {
                return None;
            }
            let desc = rest[digits_end..].strip_prefix("__")?;
            let version = Version::parse(&rest[..digits_end]).ok()?;
            let kind = if prefix == 'V' {
                ScriptKind::Versioned
            } else {
                ScriptKind::Undo
            };
            (kind, Some(version), desc)
        }
        'R' => (ScriptKind::Repeatable, None, rest.strip_prefix("__")?),
        'A' => (ScriptKind::Always, None, rest.strip_prefix("__")?),
        _ => return None,
    };
    if desc.is_empty() {
        return None;
    }
    Some(ScriptName {
        kind,
        version,
        description: desc.replace('_', " "),
    })
}

/// Length of the leading `\d+([._]\d+)*` of `s`.
fn version_prefix_len(s: &str) -> usize {
    let b = s.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut end = digits(0);
    if end == 0 {
        return 0;
    }
    while end + 1 < b.len() && matches!(b[end], b'.' | b'_') && b[end + 1].is_ascii_digit() {
        end += 1 + digits(end + 1);
    }
    end
}

/// One discovered script with its content.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file name, the key of `change_history.script`.
    pub filename: String,
    /// The path as found on disk.
    pub path: PathBuf,
    /// The path relative to the root folder, with `/` separators.
    pub relative_path: String,
    /// The script's kind.
    pub kind: ScriptKind,
    /// The version of a versioned or undo script.
    pub version: Option<Version>,
    /// The description, `_` as spaces.
    pub description: String,
    /// The text as the Python tool reads it: UTF-8, universal newlines.
    pub content: String,
    /// MD5 hex of `content`, equal to the Python tool's checksum.
    pub checksum: String,
}

/// A `.cql` file that could not be taken in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("{path}: cannot read the file: {reason}")]
    Unreadable {
        /// Relative path of the file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not UTF-8 text.
    #[error("{path}: not UTF-8 text (invalid byte at offset {offset}); save the file as UTF-8")]
    NotUtf8 {
        /// Relative path of the file.
        path: String,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
}

/// Everything found under a root folder.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Versioned, repeatable and always scripts in execution order.
    pub forward: Vec<Script>,
    /// Undo scripts in discovery order.
    pub undo: Vec<Script>,
    /// Relative paths of `.cql` files whose names follow no convention.
    pub unrecognised: Vec<String>,
    /// Files that matched a convention but could not be read.
    pub errors: Vec<ScriptError>,
}

impl Discovery {
    /// Undo scripts by version (the first one found wins when a version repeats;
    /// `validate` reports the duplicate).
    pub fn undo_by_version(&self) -> BTreeMap<&Version, &Script> {
        let mut map = BTreeMap::new();
        for s in &self.undo {
            if let Some(v) = &s.version {
                map.entry(v).or_insert(s);
            }
        }
        map
    }

    /// All scripts, forward then undo.
    pub fn all(&self) -> impl Iterator<Item = &Script> {
        self.forward.iter().chain(&self.undo)
    }
}

/// Why a root folder cannot be walked at all.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The folder does not exist or is not a directory.
    #[error("root folder '{}' {}", .0.display(), if .0.exists() { "is not a directory" } else { "does not exist" })]
    NoRoot(PathBuf),
    /// A directory under the root could not be listed.
    #[error("cannot list '{path}': {source}")]
    List {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Walks `root` recursively (sorted, symlinked directories not followed, like
/// `os.walk`) and reads every script.
pub fn discover(root: &Path) -> Result<Discovery, DiscoverError> {
    if !root.is_dir() {
        return Err(DiscoverError::NoRoot(root.to_path_buf()));
    }
    let mut files = Vec::new();
    walk(root, &mut files)?;
    let mut found = Discovery::default();
    // Reading and hashing are per file: done in parallel, results in walk order.
    let loaded = crate::par::map(&files, |path| {
        let relative_path = relative(root, path);
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(name) = parse_name(&filename) else {
            return Err(Ok(relative_path));
        };
        let content = read_text(path, &relative_path).map_err(Err)?;
        Ok(Script {
            checksum: checksum(&content),
            filename,
            path: path.clone(),
            relative_path,
            kind: name.kind,
            version: name.version,
            description: name.description,
            content,
        })
    });
    for item in loaded {
        match item {
            Ok(script) if script.kind == ScriptKind::Undo => found.undo.push(script),
            Ok(script) => found.forward.push(script),
            Err(Ok(unrecognised)) => found.unrecognised.push(unrecognised),
            Err(Err(e)) => found.errors.push(e),
        }
    }
    found.forward.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| a.relative_path.cmp(&b.relative_path))
    });
    Ok(found)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DiscoverError> {
    let list_err = |source| DiscoverError::List {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(list_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(list_err)?;
    entries.sort_by_cached_key(std::fs::DirEntry::file_name);
    let mut subdirs = Vec::new();
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type().map_err(list_err)?;
        if file_type.is_dir() {
            subdirs.push(path);
        } else if entry
            .file_name()
            .to_string_lossy()
            .to_ascii_lowercase()
            .ends_with(".cql")
            && (file_type.is_file() || path.is_file())
        {
            out.push(path);
        }
    }
    for sub in subdirs {
        walk(&sub, out)?;
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads a script as Python's `open(path, encoding="utf-8").read()` does: strict
/// UTF-8, `\r\n` and lone `\r` become `\n`, a BOM stays as U+FEFF.
fn read_text(path: &Path, relative_path: &str) -> Result<String, ScriptError> {
    let bytes = std::fs::read(path).map_err(|e| ScriptError::Unreadable {
        path: relative_path.to_string(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ScriptError::NotUtf8 {
        path: relative_path.to_string(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(universal_newlines(text))
}

/// Python's universal-newlines translation.
pub fn universal_newlines(text: String) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text
    }
}

/// MD5 hex digest of the UTF-8 text, as `cassachange.scripts._checksum`.
pub fn checksum(content: &str) -> String {
    hex(&Md5::digest(content.as_bytes()))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Option<(ScriptKind, Option<String>, String)> {
        parse_name(s).map(|n| (n.kind, n.version.map(|v| v.to_string()), n.description))
    }

    #[test]
    fn classifies_like_the_original() {
        use ScriptKind::*;
        let some = |k, v: Option<&str>, d: &str| Some((k, v.map(str::to_string), d.to_string()));
        assert_eq!(
            name("V1.2.0__add_users.cql"),
            some(Versioned, Some("1.2.0"), "add users")
        );
        assert_eq!(name("v1_2_0__x.CQL"), some(Versioned, Some("1.2.0"), "x"));
        assert_eq!(
            name("U1.2__undo_it.cql"),
            some(Undo, Some("1.2"), "undo it")
        );
        assert_eq!(name("R__view.cql"), some(Repeatable, None, "view"));
        assert_eq!(name("a__grants.cql"), some(Always, None, "grants"));
        assert_eq!(name("V1__a__b.cql"), some(Versioned, Some("1"), "a  b"));
        assert_eq!(name("V1_2__3.cql"), some(Versioned, Some("1.2"), "3"));
        for bad in [
            "V__x.cql",
            "V1.2.0_x.cql",
            "V1.2.0__.cql",
            "R_x.cql",
            "X__y.cql",
            "V1.x__y.cql",
            "V1._2__x.cql",
            "notes.cql",
            "R__x.sql",
            "Va__b.cql",
        ] {
            assert_eq!(name(bad), None, "{bad}");
        }
    }

    #[test]
    fn checksum_matches_python_md5_of_text() {
        assert_eq!(checksum(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(checksum("abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn universal_newlines_like_python() {
        assert_eq!(universal_newlines("a\r\nb\rc\n".into()), "a\nb\nc\n");
        assert_eq!(universal_newlines("\u{feff}x".into()), "\u{feff}x");
    }

    #[test]
    fn discovery_is_recursive_sorted_and_global() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |p: &str, body: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        };
        write("orders/V1.1.0__orders.cql", "SELECT 1;");
        write("users/V1.0.0__users.cql", "SELECT 1;");
        write("users/V1.10.0__later.cql", "SELECT 1;");
        write("users/V1.2.0__profile.cql", "SELECT 1;");
        write("users/U1.2.0__profile.cql", "SELECT 1;");
        write("z/R__b.cql", "SELECT 1;");
        write("a/R__a.cql", "SELECT 1;");
        write("A__always.cql", "SELECT 1;");
        write("readme.cql", "SELECT 1;");
        write("notes.txt", "x");
        write("bad/V9.9__latin1.cql", "");
        std::fs::write(root.join("bad/V9.9__latin1.cql"), b"SELECT '\xe9';").unwrap();

        let d = discover(root).unwrap();
        let order: Vec<&str> = d.forward.iter().map(|s| s.relative_path.as_str()).collect();
        assert_eq!(
            order,
            [
                "users/V1.0.0__users.cql",
                "orders/V1.1.0__orders.cql",
                "users/V1.2.0__profile.cql",
                "users/V1.10.0__later.cql",
                "a/R__a.cql",
                "z/R__b.cql",
                "A__always.cql",
            ]
        );
        assert_eq!(d.undo.len(), 1);
        assert_eq!(d.unrecognised, ["readme.cql"]);
        assert_eq!(
            d.errors,
            [ScriptError::NotUtf8 {
                path: "bad/V9.9__latin1.cql".into(),
                offset: 8
            }]
        );
    }

    #[test]
    fn missing_root_is_an_error() {
        let err = discover(Path::new("/nonexistent/migrations")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/migrations"));
    }
}

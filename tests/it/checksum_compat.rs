//! Checksums equal to the Python tool's for the same files: LF, CRLF, lone CR, BOM,
//! non-ASCII. Ours come from the real binary (`validate --format json`), theirs from
//! `cassachange.scripts._checksum(_read(path))` of `cassachange==1.0.0`.

use cassachange_tests::Project;

#[test]
fn checksums_equal_the_python_tool() {
    let p = Project::new();
    let files: &[(&str, &[u8])] = &[
        (
            "V1__lf.cql",
            b"CREATE TABLE t (a int PRIMARY KEY);\nSELECT * FROM t;\n",
        ),
        (
            "V2__crlf.cql",
            b"CREATE TABLE t (a int PRIMARY KEY);\r\nSELECT * FROM t;\r\n",
        ),
        (
            "V3__cr.cql",
            b"CREATE TABLE t (a int PRIMARY KEY);\rSELECT * FROM t;\r",
        ),
        (
            "V4__mixed.cql",
            b"SELECT 1 FROM t;\r\n\rSELECT 2 FROM t;\n\r\n",
        ),
        ("V5__bom_lf.cql", b"\xef\xbb\xbfSELECT * FROM t;\n"),
        ("V6__bom_crlf.cql", b"\xef\xbb\xbfSELECT * FROM t;\r\n"),
        (
            "V7__non_ascii.cql",
            "INSERT INTO t (a, s) VALUES (1, 'héllo wörld — 東京 🚀');\r\n".as_bytes(),
        ),
        ("V8__no_final_newline.cql", b"SELECT * FROM t;"),
        ("R__tabs_and_spaces.cql", b"\tSELECT  *\tFROM t ;  \n\n\n"),
    ];
    for (name, body) in files {
        p.write(&format!("migrations/{name}"), body);
    }
    let out = p.run(&["validate", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let scripts = doc["scripts"].as_array().unwrap();
    assert_eq!(scripts.len(), files.len());

    let code = "import sys\nfrom cassachange.scripts import _checksum, _read\n\
                for path in sys.argv[1:]:\n    print(_checksum(_read(path)))";
    let paths: Vec<String> = scripts
        .iter()
        .map(|s| format!("migrations/{}", s["path"].as_str().unwrap()))
        .collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let py = p.python(code, &args);
    assert_eq!(py.code, 0, "{}", py.all());
    let theirs: Vec<&str> = py.stdout.lines().collect();
    let ours: Vec<&str> = scripts
        .iter()
        .map(|s| s["checksum"].as_str().unwrap())
        .collect();
    assert_eq!(ours, theirs, "files: {paths:?}");
    // The translations matter: CRLF, CR and LF versions of the same text agree, and a
    // BOM is part of the text.
    let sum = |name: &str| ours[paths.iter().position(|p| p.ends_with(name)).unwrap()];
    assert_eq!(sum("V1__lf.cql"), sum("V2__crlf.cql"));
    assert_eq!(sum("V1__lf.cql"), sum("V3__cr.cql"));
    assert_eq!(sum("V5__bom_lf.cql"), sum("V6__bom_crlf.cql"));
    assert_ne!(sum("V5__bom_lf.cql"), cassachange_md5("SELECT * FROM t;\n"));
}

#[test]
fn a_file_that_is_not_utf8_is_an_error_naming_it() {
    let p = Project::new();
    p.write("migrations/V1__latin1.cql", b"SELECT 'caf\xe9' FROM t;\n");
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains(
            "V1__latin1.cql: not UTF-8 text (invalid byte at offset 11); save the file as UTF-8"
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("internal error"));
}

/// MD5 of text, computed by the Python tool's own function (so the BOM check above
/// compares against Python, not against our implementation).
fn cassachange_md5(text: &str) -> String {
    let p = Project::new();
    let out = p.python(
        "import sys\nfrom cassachange.scripts import _checksum\nprint(_checksum(sys.argv[1]))",
        &[text],
    );
    out.stdout.trim().to_string()
}

//! The linter: never panics for any target, and every finding's position is inside
//! the script.
#![no_main]

use cassachange::cql::{lint_script_for, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let lines = src.split('\n').count();
    for target in ["cassandra", "cassandra-4", "astra"] {
        let target = Target::parse(target).expect("a known target");
        let lint = lint_script_for(src, target);
        for f in &lint.findings {
            if let Some(pos) = f.pos {
                assert!(pos.line >= 1 && (pos.line as usize) <= lines + 1, "{f:?}");
            }
            assert!(!f.message.is_empty());
        }
    }
});

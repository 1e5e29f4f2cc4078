//! The config loader: any file gives settings or an error, never a panic or a hang
//! (YAML aliases, huge numbers, deep nesting, odd encodings).
#![no_main]

use cassachange::config::{load, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("cassachange-fuzz-{}.yml", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let env = |_: &str| None;
    let _ = load(&LoadOptions {
        config: Some(&path),
        profile: None,
        flags: Vec::new(),
        env: &env,
    });
});

//! The secure connect bundle reader, on any bytes: never panics, never allocates past
//! its per-entry bound (libFuzzer's RSS limit), and every refusal is one line that names
//! the bundle (without its content) and says what to do.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match cassachange::db::read_bundle_for_fuzzing(data) {
        Ok((host, _port)) => assert!(!host.trim().is_empty(), "a bundle names its host"),
        Err(e) => {
            assert!(
                e.starts_with("secure_connect_bundle (from secrets.secure_connect_bundle, in memory): "),
                "{e}"
            );
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
});

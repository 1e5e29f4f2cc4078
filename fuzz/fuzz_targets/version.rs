//! The version parser: never panics; a parsed version parses again to the same
//! version, and equals itself by number.
#![no_main]

use cassachange::version::Version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = Version::parse(text) {
        let again = Version::parse(v.as_str()).expect("a parsed version parses again");
        assert!(again.same_number(&v) && v.same_number(&again));
        assert_eq!(again.numeric_key(), v.numeric_key());
    }
});

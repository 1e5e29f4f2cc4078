//! The enterprise plugin's secret URI parser (compiled in from its source: the plugin is
//! a cdylib): never panics; a parsed URI names a non-empty secret; parsing is a function
//! of the text; every refusal is one line.
#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../enterprise-plugin/src/secrets/uri.rs"]
mod uri;

use libfuzzer_sys::fuzz_target;
use uri::Target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = uri::parse(text);
    assert_eq!(first, uri::parse(text));
    match first {
        Ok(Target::Vault { path, field }) => assert!(!path.is_empty() && !field.is_empty()),
        Ok(Target::Ssm { name, .. }) => assert!(!name.is_empty()),
        Ok(Target::Asm { id, .. }) => assert!(!id.is_empty()),
        Ok(Target::AzureKeyVault { vault, name, .. }) => {
            assert!(!vault.is_empty() && !name.is_empty());
        }
        Err(e) => assert!(!e.is_empty() && !e.contains('\n'), "{e:?}"),
    }
});

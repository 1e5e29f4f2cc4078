//! Defines where the suite finds what it tests: the built binary and plugin, the
//! installations customers make of them (the binary alone, or with the plugin beside
//! it), test-only builds with other features, and the Python peer's interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cache folder shared with `tests/cassandra/node.sh`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CASSACHANGE_CACHE").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/cassachange")
        },
        PathBuf::from,
    )
}

/// The folder of this crate (`tests/`).
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `target/<profile>` folder the test binary was built into.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/it-<hash> → target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Path of the built `cassachange` binary (`CASSACHANGE_BIN` overrides).
pub fn built_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CASSACHANGE_BIN") {
        return PathBuf::from(p);
    }
    let bin = profile_dir().join(format!("cassachange{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: build it first (`cargo build --workspace`; tests/run.sh does this)",
        bin.display()
    );
    bin
}

/// File name of the plugin library on this platform.
pub fn plugin_file_name() -> String {
    format!(
        "{}cassachange_enterprise{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The plugin library built with the workspace.
pub fn built_plugin() -> PathBuf {
    let p = profile_dir().join(plugin_file_name());
    assert!(
        p.is_file(),
        "{} not found: build the workspace first",
        p.display()
    );
    p
}

/// Links (or copies) `from` to `to`.
fn place(from: &Path, to: &Path) {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).expect("copy");
    }
}

/// An installation folder: the `cassachange` binary alone (community), or with a plugin
/// file beside it (enterprise), the way customers install them. Shared by the tests of
/// one run; `name` distinguishes plugin variants.
pub fn install(name: &str, plugin: Option<&Path>) -> PathBuf {
    install_host(name, &built_bin(), plugin)
}

/// [`install`] with another build of the binary (a host variant).
pub fn install_host(name: &str, host: &Path, plugin: Option<&Path>) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static DONE: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut done = DONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = done.get_or_insert_with(HashMap::new);
    if let Some(p) = map.get(name) {
        return p.clone();
    }
    let dir = cache_dir()
        .join("it-install")
        .join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("install dir");
    let bin = dir.join(format!("cassachange{}", std::env::consts::EXE_SUFFIX));
    place(host, &bin);
    if let Some(plugin) = plugin {
        let target = dir.join(plugin_file_name());
        place(plugin, &target);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
    }
    map.insert(name.to_string(), bin.clone());
    bin
}

/// The community binary (no plugin beside it).
pub fn bin() -> PathBuf {
    install("community", None)
}

/// The enterprise installation: the binary with the workspace's plugin beside it.
pub fn enterprise_bin() -> PathBuf {
    install("enterprise", Some(&built_plugin()))
}

/// A test-only build of the plugin with only `features` (e.g. `sim-older`; empty: no
/// provider), built on first use into a target folder of its own under the cache;
/// returns the library's path.
pub fn plugin_variant(features: &str) -> PathBuf {
    variant("cassachange-enterprise", features, &plugin_file_name())
}

/// A test-only build of the binary with `features` (e.g. `sim-older-host`: an
/// interface 1.0 host), built like [`plugin_variant`]; returns the binary's path.
pub fn host_variant(features: &str) -> PathBuf {
    variant(
        "cassachange",
        features,
        &format!("cassachange{}", std::env::consts::EXE_SUFFIX),
    )
}

/// The target folder of the test-only builds ([`plugin_variant`], [`host_variant`], the
/// packaging test), apart from the workspace's so that they never replace what
/// [`built_bin`] and [`built_plugin`] return.
pub fn variants_target() -> PathBuf {
    cache_dir().join("plugin-variants-target")
}

/// Held while cargo builds into [`variants_target`]: one build at a time, and nobody
/// copies an artifact that another build is replacing.
pub fn variant_build_lock() -> std::sync::MutexGuard<'static, ()> {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn variant(package: &str, features: &str, artifact: &str) -> PathBuf {
    let _guard = variant_build_lock();
    let target = variants_target();
    let out_dir = cache_dir()
        .join("plugin-variants")
        .join(package)
        .join(if features.is_empty() {
            "none"
        } else {
            features
        });
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            package,
            "--no-default-features",
            "--features",
            features,
        ])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(tests_dir().join(".."))
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "building {package} with --features {features} failed"
    );
    std::fs::create_dir_all(&out_dir).expect("variant dir");
    let out = out_dir.join(artifact);
    std::fs::copy(target.join("debug").join(artifact), &out).expect("copy variant");
    out
}

/// The Python interpreter of the test venv, which has `cassachange==1.0.0` installed.
pub fn python() -> PathBuf {
    let py = std::env::var_os("CASSACHANGE_PYTHON")
        .map_or_else(|| cache_dir().join("venv/bin/python"), PathBuf::from);
    assert!(
        py.is_file(),
        "{} not found: create the venv with `tests/cassandra/node.sh venv` (tests/run.sh does this)",
        py.display()
    );
    py
}

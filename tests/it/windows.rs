//! The Windows x86_64 artifacts (`packaging/build.sh --target x86_64-pc-windows-gnu`,
//! built by `tests/windows/setup.sh`, which `tests/run.sh` runs) under Wine 8.0: the
//! `.zip`s unpacked as a user would, `--version` with and without the `.dll`, the
//! plugin checks on the file's and the folder's DACL (Wine derives them from the Unix
//! owner and mode bits), `validate`, and deploy, status and rollback against the local
//! Cassandra node; Ctrl-C in the console inside a script that is not safe to repeat;
//! the `win_amd64` wheels installed by pip.
//!
//! What Wine cannot show: a Windows symbolic link or junction (Wine presents a Unix link
//! as the file itself), and the sharing modes that keep the checked file from being
//! replaced while it is held (Unix processes ignore them). `acl::judge` is unit-tested
//! on every rule in `community/src/edition/plugin_file/mod.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cassachange_tests::{db, finish, python, wait_for, DbProject, Output, Project};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const TARGET: &str = "x86_64-pc-windows-gnu";

fn env(key: &str) -> PathBuf {
    let v = std::env::var_os(key).unwrap_or_else(|| {
        panic!(
            "{key} is not set: the Windows tests run on the artifacts tests/windows/setup.sh \
             builds (tests/run.sh runs it; by hand: eval \"$(tests/windows/setup.sh)\")"
        )
    });
    PathBuf::from(v)
}

fn dist() -> PathBuf {
    env("CASSACHANGE_WINDOWS_DIST")
}

/// Unpacks `zip` into `dest` and returns the folder inside it.
fn unzip(zip: &Path, dest: &Path) -> PathBuf {
    let out = Output::of(
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(zip)
            .arg(dest),
    );
    assert_eq!(out.code, 0, "unzip {}: {}", zip.display(), out.all());
    let name = zip.file_name().unwrap().to_string_lossy();
    dest.join(name.trim_end_matches(".zip"))
}

/// An installation of the Windows binary: the community `.zip` unpacked (and, with
/// `plugin`, the enterprise `.zip`'s `.dll` put beside the `.exe`, as the README says),
/// the test-only `bcryptprimitives.dll` beside them, and a wrapper script that runs the
/// `.exe` under the suite's Wine prefix.
struct WinInstall {
    _dir: tempfile::TempDir,
    app: PathBuf,
    wrapper: PathBuf,
}

impl WinInstall {
    fn new(plugin: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cassachange-win-")
            .tempdir()
            .unwrap();
        let app = unzip(
            &dist().join(format!("cassachange-{VERSION}-{TARGET}.zip")),
            dir.path(),
        );
        assert!(
            app.join("cassachange.exe").is_file(),
            "the zip holds cassachange.exe"
        );
        std::fs::copy(
            env("CASSACHANGE_WINE_SHIM"),
            app.join("bcryptprimitives.dll"),
        )
        .unwrap();
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).unwrap();
        let install = WinInstall {
            wrapper: dir.path().join("cassachange"),
            _dir: dir,
            app,
        };
        if plugin {
            install.add_plugin();
        }
        std::fs::write(
            &install.wrapper,
            format!(
                "#!/bin/sh\nWINEPREFIX='{}' WINEDEBUG=-all exec '{}' '{}' \"$@\"\n",
                env("CASSACHANGE_WINEPREFIX").display(),
                env("CASSACHANGE_WINE").display(),
                install.app.join("cassachange.exe").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&install.wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        install
    }

    fn add_plugin(&self) {
        let unpacked = unzip(
            &dist().join(format!("cassachange-enterprise-{VERSION}-{TARGET}.zip")),
            self.app.parent().unwrap(),
        );
        std::fs::rename(unpacked.join("cassachange_enterprise.dll"), self.dll()).unwrap();
        std::fs::set_permissions(self.dll(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn dll(&self) -> PathBuf {
        self.app.join("cassachange_enterprise.dll")
    }

    fn run(&self, args: &[&str]) -> Output {
        Project::new().with_bin(self.wrapper.clone()).run(args)
    }
}

/// `path` as a Windows program under Wine names it (Wine's Z: drive is the Unix root).
fn wine_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn windows_artifacts_are_checksummed() {
    let sums = std::fs::read_to_string(dist().join("SHA256SUMS")).unwrap();
    for name in [
        format!("cassachange-{VERSION}-{TARGET}.zip"),
        format!("cassachange-enterprise-{VERSION}-{TARGET}.zip"),
        format!("cassachange-{VERSION}-py3-none-win_amd64.whl"),
        format!("cassachange_enterprise-{VERSION}-py3-none-win_amd64.whl"),
    ] {
        assert!(
            sums.contains(&format!("  {name}\n")),
            "{name} in SHA256SUMS:\n{sums}"
        );
    }
    let check = Output::of(
        Command::new("sha256sum")
            .args(["--check", "--strict", "SHA256SUMS"])
            .current_dir(dist()),
    );
    assert_eq!(check.code, 0, "{}", check.all());
}

#[test]
fn windows_exe_is_community_alone_and_enterprise_with_the_dll() {
    let win = WinInstall::new(false);
    let out = win.run(&["--version"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stdout.trim(),
        format!("cassachange {VERSION} (community)")
    );

    win.add_plugin();
    let out = win.run(&["--version"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("(enterprise {VERSION}; plugin interface")),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains("providers: vault, aws, azure"),
        "{}",
        out.all()
    );
    let json = win.run(&["--version", "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_str(&json.stdout).unwrap_or_else(|_| panic!("{}", json.all()));
    assert_eq!(v["edition"]["name"], "enterprise", "{}", json.all());
}

#[test]
fn windows_plugin_checks_read_the_files_and_the_folders_dacl() {
    let win = WinInstall::new(true);
    let refused = |out: &Output| {
        assert_eq!(out.code, 2, "{}", out.all());
        assert!(
            out.stderr
                .contains("refusing to load the enterprise plugin Z:\\"),
            "names the plugin by its Windows path: {}",
            out.all()
        );
    };

    // Wine gives "other" write permission to Everyone in the DACL it reports.
    chmod(&win.dll(), 0o757);
    let out = win.run(&["--version"]);
    refused(&out);
    assert!(
        out.stderr
            .contains("cassachange_enterprise.dll: it lets Everyone (S-1-1-0) change it"),
        "{}",
        out.all()
    );
    chmod(&win.dll(), 0o755);

    chmod(&win.app, 0o757);
    let out = win.run(&["--version"]);
    refused(&out);
    assert!(out.stderr.contains("its folder Z:\\"), "{}", out.all());
    assert!(
        out.stderr.contains("lets Everyone (S-1-1-0) change it"),
        "{}",
        out.all()
    );
    chmod(&win.app, 0o755);

    // Another Unix user's file: Wine reports an owner that is not the binary's.
    std::os::unix::fs::chown(win.dll(), Some(65534), None).unwrap();
    let out = win.run(&["--version"]);
    refused(&out);
    assert!(out.stderr.contains(": it is owned by "), "{}", out.all());
    assert!(
        out.stderr
            .contains("not by Administrators, SYSTEM or the owner of the cassachange binary"),
        "{}",
        out.all()
    );
    std::os::unix::fs::chown(win.dll(), Some(0), None).unwrap();

    // A DLL that is not the plugin.
    let real = win.app.join("real.dll");
    std::fs::rename(win.dll(), &real).unwrap();
    std::fs::copy(env("CASSACHANGE_WINE_SHIM"), win.dll()).unwrap();
    let out = win.run(&["--version"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("is not a cassachange plugin"),
        "{}",
        out.all()
    );

    // CASSACHANGE_PLUGIN names the file anywhere, checked the same way.
    std::fs::remove_file(win.dll()).unwrap();
    let elsewhere = win.app.parent().unwrap().join("plugins");
    std::fs::create_dir(&elsewhere).unwrap();
    chmod(&elsewhere, 0o755);
    let moved = elsewhere.join("cassachange_enterprise.dll");
    std::fs::rename(&real, &moved).unwrap();
    // As a Windows user writes it.
    let moved = wine_path(&moved);
    let out = Project::new()
        .with_bin(win.wrapper.clone())
        .run_with(&["--version"], &[("CASSACHANGE_PLUGIN", moved.as_str())]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("enterprise"), "{}", out.all());
    chmod(&elsewhere, 0o777);
    let out = Project::new()
        .with_bin(win.wrapper.clone())
        .run_with(&["--version"], &[("CASSACHANGE_PLUGIN", moved.as_str())]);
    refused(&out);
    assert!(
        out.stderr.contains("plugins lets Everyone"),
        "{}",
        out.all()
    );
}

#[test]
fn windows_exe_validates_deploys_and_rolls_back_on_the_node() {
    let win = WinInstall::new(false);
    let mut p = DbProject::new(db::plain(), "win", 1, "");
    p.script("V1.0.0__users.cql", "CREATE TABLE users (id int PRIMARY KEY, name text);\n")
        .script("U1.0.0__users.cql", "DROP TABLE users;\n")
        .script(
            "V1.1.0__orders.cql",
            "CREATE TABLE orders (id int PRIMARY KEY, user int);\nINSERT INTO orders (id, user) VALUES (1, 1);\n",
        )
        .script("U1.1.0__orders.cql", "DROP TABLE orders;\n")
        .script("R__by_user.cql", "CREATE INDEX IF NOT EXISTS orders_user ON orders (user);\n");
    let linux_bin = cassachange_tests::bin();
    p.project.use_bin(win.wrapper.clone());

    let out = p.run(&["validate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Validation PASSED."), "{}", out.all());

    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("run 3 | skip 0 | errors 0"),
        "{}",
        out.all()
    );
    assert!(p.table_exists(p.ks(), "orders"));

    let out = p.run(&["status"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(": up to date"), "{}", out.all());
    // The history the Windows binary wrote is the same to the Linux binary.
    p.project.use_bin(linux_bin.clone());
    let out = p.run(&["status"]);
    assert!(out.stdout.contains(": up to date"), "{}", out.all());
    p.project.use_bin(win.wrapper.clone());

    let out = p.run(&["rollback"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("U1.1.0__orders.cql"), "{}", out.all());
    assert!(!p.table_exists(p.ks(), "orders"));
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("V1.1.0__orders.cql"), "{}", out.all());
    assert!(out.stdout.contains("will re-apply"), "{}", out.all());
    p.project.use_bin(linux_bin);
    let out = p.run(&["status", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn windows_wheels_install_with_pip_and_load_the_plugin() {
    let target = tempfile::tempdir().unwrap();
    let pip = Output::of(
        Command::new(python())
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-index",
                "--only-binary=:all:",
                "--platform",
                "win_amd64",
                "--find-links",
            ])
            .arg(dist())
            .arg("--target")
            .arg(target.path())
            .arg("cassachange-enterprise[vault]"),
    );
    assert_eq!(pip.code, 0, "{}", pip.all());
    let bin = target.path().join("bin");
    for f in ["cassachange.exe", "cassachange_enterprise.dll"] {
        assert!(
            bin.join(f).is_file(),
            "{f} installed into bin: {}",
            pip.all()
        );
    }
    std::fs::copy(
        env("CASSACHANGE_WINE_SHIM"),
        bin.join("bcryptprimitives.dll"),
    )
    .unwrap();
    chmod(&bin, 0o755);
    chmod(&bin.join("cassachange_enterprise.dll"), 0o755);
    let out = Output::of(
        Command::new(env("CASSACHANGE_WINE"))
            .arg(bin.join("cassachange.exe"))
            .arg("--version")
            .env("WINEPREFIX", env("CASSACHANGE_WINEPREFIX"))
            .env("WINEDEBUG", "-all"),
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&format!("enterprise {VERSION}")),
        "{}",
        out.all()
    );
}

/// The Windows form of the stop promise (as `stops.rs` tests it on Linux): Ctrl-C in the
/// console of a run inside a script that is not safe to repeat stops it between
/// statements with exit 130, names the script and why a retry waits, releases the lock,
/// and the next deploy stops at the script instead of running it again. Wine delivers
/// Ctrl-C only on a console it made for a terminal, so Wine runs in a pseudo-terminal
/// (`script`) and `ctrlevent.exe` (tests/windows/ctrlevent.c) presses Ctrl-C once the
/// test creates its ready file.
#[test]
fn windows_ctrl_c_inside_a_counter_script_never_repeats_it_unasked() {
    let win = WinInstall::new(false);
    let mut p = DbProject::new(db::plain(), "winint", 1, "");
    p.script("V1__count.cql", &crate::stops::counter_script(200))
        .script(
            "V2__after.cql",
            "CREATE TABLE IF NOT EXISTS after (k int PRIMARY KEY);\n",
        );
    let dir = p.project.path().to_path_buf();
    let (ready, output) = (dir.join("ready"), dir.join("run.out"));
    let wrapper = dir.join("cassachange-ctrl-c");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec script -qec \"WINEPREFIX='{}' WINEDEBUG=-all '{}' '{}' '{}' '{}' '{}' $*\" /dev/null\n",
            env("CASSACHANGE_WINEPREFIX").display(),
            env("CASSACHANGE_WINE").display(),
            env("CASSACHANGE_WINE_CTRLEVENT").display(),
            wine_path(&ready),
            wine_path(&output),
            wine_path(&win.app.join("cassachange.exe")),
        ),
    )
    .unwrap();
    chmod(&wrapper, 0o755);
    let linux_bin = cassachange_tests::bin();
    p.project.use_bin(wrapper);
    let child = p
        .project
        .command(&["deploy"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(Duration::from_secs(120), "the counter to move", || {
        db::plain().counter(p.ks(), "c") >= 1
    });
    std::fs::write(&ready, "").unwrap();
    let (code, terminal) = finish(child);
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    assert_eq!(code, 130, "{text}\n(terminal: {terminal})");
    assert!(
        text.contains("interrupted (Ctrl-C)")
            && text.contains("stopped V1__count.cql")
            && text.contains("not safe to repeat"),
        "the stop names the signal, the script and why a retry waits: {text}"
    );
    assert_eq!(db::plain().counter(p.ks(), "c"), 1, "{text}");

    p.project.use_bin(linux_bin);
    let out = p.run(&["repair", "--list"]);
    assert!(out.stdout.contains("Deploy lock: free"), "{}", out.all());
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("[STOP]    V1__count.cql"),
        "{}",
        out.all()
    );
    assert_eq!(db::plain().counter(p.ks(), "c"), 1, "not run again unasked");
    assert!(!p.table_exists(p.ks(), "after"), "nothing after it ran");
}

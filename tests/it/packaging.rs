//! The release artifacts of `packaging/build.sh`, built from the dev profile (quick; the
//! release profile runs the same script): checksums, a byte-identical second pack, and
//! each way in — `install.sh` into a fresh prefix, the `.deb` files unpacked under a
//! scratch root, the wheel in a fresh venv — ending in `cassachange --version`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cassachange_tests::{cache_dir, tests_dir, variant_build_lock, variants_target, Output};
use serde_json::Value;

const PLUGIN: &str = "libcassachange_enterprise.so";

/// A build from an empty target folder on two cores takes minutes, not an hour.
const COLD_BUILD: Duration = Duration::from_secs(40 * 60);

fn build(out: &Path) -> Output {
    let _guard = variant_build_lock();
    let out = Output::within(
        Command::new(tests_dir().join("../packaging/build.sh"))
            .args(["--profile", "dev", "--features", "all vault", "--out"])
            .arg(out)
            .env("CARGO_TARGET_DIR", variants_target())
            // Fixed, not the last commit's time: the builds (some dependencies' build
            // scripts read it) and the archives stay the same from commit to commit.
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env_remove("RUSTFLAGS"),
        COLD_BUILD,
    );
    assert_eq!(out.code, 0, "build.sh failed:\n{}", out.all());
    out
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn find(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let hits: Vec<String> = files(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .collect();
    assert_eq!(hits.len(), 1, "{prefix}*{suffix} in {:?}", files(dir));
    dir.join(&hits[0])
}

/// `--version --format json` of an installed binary: the edition's name.
fn edition(bin: &Path) -> String {
    let out = Output::of(
        Command::new(bin)
            .args(["--version", "--format", "json"])
            .env("NO_COLOR", "1"),
    );
    assert_eq!(out.code, 0, "{} --version:\n{}", bin.display(), out.all());
    let v: Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    v["edition"]["name"].as_str().unwrap().to_string()
}

fn sh(cmd: &mut Command) -> Output {
    let out = Output::within(cmd, COLD_BUILD);
    assert_eq!(out.code, 0, "{cmd:?}:\n{}", out.all());
    out
}

#[test]
fn release_artifacts_check_out_install_and_run() {
    let scratch = tempfile::tempdir_in(cache_dir()).unwrap();
    let a = scratch.path().join("a");
    let b = scratch.path().join("b");
    let out_a = build(&a);
    let version = env!("CARGO_PKG_VERSION");
    let names = files(&a);
    for expected in [
        format!("cassachange-{version}-"),
        format!("cassachange-enterprise-{version}-"),
        format!("cassachange_{version}_"),
        format!("cassachange-enterprise_{version}_"),
        format!("cassachange-{version}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        format!("cassachange_enterprise-{version}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        format!("cassachange-{version}-x86_64-unknown-linux-musl.tar.gz"),
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(&expected)),
            "no {expected}* in {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.ends_with("-vault.tar.gz")),
        "the vault-only plugin archive is missing: {names:?}"
    );

    // SHA256SUMS lists every artifact and matches.
    let sums = std::fs::read_to_string(a.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), names.len() - 1, "{sums}");
    sh(Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&a));

    // The archives hold what the README promises.
    let community = find(
        &a,
        &format!("cassachange-{version}-x86_64-unknown-linux-gnu"),
        ".tar.gz",
    );
    let listing = sh(Command::new("tar").arg("-tzf").arg(&community)).stdout;
    for part in [
        "/cassachange",
        "/README.md",
        "/LICENSE",
        "/man/cassachange.1",
        "/completions/cassachange.bash",
        "/completions/_cassachange",
        "/completions/cassachange.fish",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(part)),
            "{part} not in {}:\n{listing}",
            community.display()
        );
    }

    // The Linux builds need nothing newer than glibc 2.17 (auditwheel checked the wheels
    // in build.sh and said so).
    assert!(
        out_a
            .stderr
            .contains("is consistent with the following platform tag: \"manylinux_2_17_x86_64\""),
        "{}",
        out_a.stderr
    );
    // The static musl binary runs anywhere, and refuses a plugin by name.
    let musl = find(
        &a,
        &format!("cassachange-{version}-x86_64-unknown-linux-musl"),
        ".tar.gz",
    );
    let musl_dir = scratch.path().join("musl");
    std::fs::create_dir(&musl_dir).unwrap();
    sh(Command::new("tar")
        .arg("-xzf")
        .arg(&musl)
        .arg("-C")
        .arg(&musl_dir)
        .arg("--strip-components=1"));
    let file = sh(Command::new("file").arg(musl_dir.join("cassachange"))).stdout;
    assert!(
        file.contains("statically linked") || file.contains("static-pie"),
        "{file}"
    );
    assert_eq!(edition(&musl_dir.join("cassachange")), "community");
    let plugin_tgz = find(
        &a,
        &format!("cassachange-enterprise-{version}-x86_64-unknown-linux-gnu"),
        &format!("{version}-x86_64-unknown-linux-gnu.tar.gz"),
    );
    sh(Command::new("tar")
        .arg("-xzf")
        .arg(&plugin_tgz)
        .arg("-C")
        .arg(&musl_dir)
        .arg("--strip-components=1")
        .arg("--wildcards")
        .arg(format!("*/{PLUGIN}")));
    let out = Output::of(Command::new(musl_dir.join("cassachange")).arg("--version"));
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains(
            "this cassachange is a static (musl) build and cannot load the enterprise plugin"
        ),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("use the glibc build"), "{}", out.all());

    // Packing the same builds again gives the same bytes.
    build(&b);
    let sums_b = std::fs::read_to_string(b.join("SHA256SUMS")).unwrap();
    assert_eq!(sums, sums_b, "a second pack differs");

    // install.sh: the community archive alone, then the folder (with the plugin).
    let install = tests_dir().join("../packaging/install.sh");
    let p1 = scratch.path().join("prefix-community");
    sh(Command::new(&install)
        .arg("--prefix")
        .arg(&p1)
        .arg(&community));
    assert_eq!(edition(&p1.join("bin/cassachange")), "community");
    assert!(p1.join("share/man/man1/cassachange.1").is_file());
    let p2 = scratch.path().join("prefix-enterprise");
    sh(Command::new(&install).arg("--prefix").arg(&p2).arg(&a));
    assert_eq!(edition(&p2.join("bin/cassachange")), "enterprise");
    assert!(p2.join("lib/cassachange").join(PLUGIN).is_file());

    // A damaged archive is refused before anything is installed.
    let bad = scratch.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let copy = bad.join(community.file_name().unwrap());
    let mut bytes = std::fs::read(&community).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&copy, bytes).unwrap();
    std::fs::copy(a.join("SHA256SUMS"), bad.join("SHA256SUMS")).unwrap();
    let p3 = scratch.path().join("prefix-bad");
    let out = Output::of(Command::new(&install).arg("--prefix").arg(&p3).arg(&copy));
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("does not match its SHA256SUMS entry"),
        "{}",
        out.stderr
    );
    assert!(!p3.join("bin/cassachange").exists());

    // The .deb files under a scratch root: the plugin package depends on the binary's
    // and lands beside it.
    let deb = find(&a, &format!("cassachange_{version}_"), ".deb");
    let deb_plugin = find(&a, &format!("cassachange-enterprise_{version}_"), ".deb");
    let depends = sh(Command::new("dpkg-deb")
        .arg("-f")
        .arg(&deb_plugin)
        .arg("Depends"))
    .stdout;
    assert_eq!(depends.trim(), format!("cassachange (= {version})"));
    let root = scratch.path().join("root");
    sh(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    assert_eq!(edition(&root.join("usr/bin/cassachange")), "community");
    sh(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb_plugin)
        .arg(&root));
    assert!(root.join("usr/lib/cassachange").join(PLUGIN).is_file());
    assert_eq!(edition(&root.join("usr/bin/cassachange")), "enterprise");

    // `cargo install` of the binary (the dev profile here, from the same cache).
    let root = scratch.path().join("cargo-root");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    {
        let _guard = variant_build_lock();
        sh(Command::new(cargo)
            .args(["install", "--quiet", "--locked", "--debug", "--path"])
            .arg(tests_dir().join("../community"))
            .arg("--root")
            .arg(&root)
            .env("CARGO_TARGET_DIR", variants_target())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env_remove("RUSTFLAGS"));
    }
    assert_eq!(edition(&root.join("bin/cassachange")), "community");

    // The wheel in a fresh venv puts the Rust binary on PATH as `cassachange`.
    let wheel = find(&a, &format!("cassachange-{version}-"), ".whl");
    let venv = scratch.path().join("venv");
    sh(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    sh(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--disable-pip-version-check",
        ])
        .arg(&wheel));
    assert_eq!(edition(&venv.join("bin/cassachange")), "community");

    // The original's install commands, verbatim, from a folder of built wheels only:
    // the plugin's wheel turns a fresh venv's binary into the enterprise edition.
    let venv = scratch.path().join("venv-enterprise");
    sh(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    let pip = |args: &[&str]| {
        let out = sh(Command::new(venv.join("bin/python"))
            .args(["-m", "pip"])
            .args(args)
            .args(["--no-index", "--disable-pip-version-check", "--find-links"])
            .arg(&a));
        assert!(
            !out.all().contains("does not provide the extra"),
            "pip {args:?}: {}",
            out.all()
        );
    };
    pip(&["install", "cassachange-enterprise[vault]"]);
    for extra in ["aws", "azure", "all"] {
        pip(&["install", &format!("cassachange-enterprise[{extra}]")]);
    }
    pip(&["install", "cassachange"]);
    let bin = venv.join("bin/cassachange");
    assert!(venv.join("bin").join(PLUGIN).is_file());
    let out = Output::of(Command::new(&bin).args(["--version", "--format", "json"]));
    assert_eq!(out.code, 0, "{}", out.all());
    let v: Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(v["edition"]["name"], "enterprise", "{v}");
    let providers = v["edition"]["plugin"]["providers"].to_string();
    for p in ["vault", "aws", "azure"] {
        assert!(providers.contains(p), "{p} in {providers}");
    }
    ci_installs(&a, scratch.path());

    // The spec's workflow steps with the installed binary: validate, dry run, deploy.
    let mut p = cassachange_tests::DbProject::new(cassachange_tests::db::plain(), "wheel", 1, "");
    p.project.use_bin(bin);
    p.script(
        "V1__t.cql",
        "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    );
    for args in [&["validate"][..], &["deploy", "--dry-run"], &["deploy"]] {
        let out = p.run(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.all());
    }
    assert!(p.table_exists(p.ks(), "t"));
}

/// The workflow template's `pip install` steps and the composite action (`action.yml`),
/// run as written against the built wheels with requirements that
/// `packaging/requirements.py` made from SHA256SUMS; a wheel whose hash differs is refused.
fn ci_installs(dist: &Path, scratch: &Path) {
    let version = env!("CARGO_PKG_VERSION");
    let repo = scratch.join("ci-repo");
    sh(Command::new("python3")
        .arg(tests_dir().join("../packaging/requirements.py"))
        .args(["--extras", "azure", "--out"])
        .arg(repo.join("requirements"))
        .arg(dist.join("SHA256SUMS")));
    let enterprise_req =
        std::fs::read_to_string(repo.join("requirements/cassachange-enterprise.txt")).unwrap();
    assert!(
        enterprise_req.contains(&format!(
            "cassachange-enterprise[azure]=={version} --hash=sha256:"
        )),
        "{enterprise_req}"
    );

    // Each distinct pip step of the workflow, in a fresh venv whose pip is on PATH.
    let wf = std::fs::read_to_string(tests_dir().join("../packaging/github-workflow-migrate.yml"))
        .unwrap();
    let mut steps: Vec<&str> = wf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- run: "))
        .filter(|r| r.starts_with("pip install "))
        .collect();
    steps.dedup();
    steps.sort_unstable();
    steps.dedup();
    assert_eq!(steps.len(), 2, "{steps:?}");
    for step in steps {
        let venv = scratch.join(format!("ci-venv-{}", step.len()));
        sh(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        let path = format!(
            "{}:{}",
            venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        sh(Command::new("bash")
            .args(["-euo", "pipefail", "-c", step])
            .current_dir(&repo)
            .env("PATH", &path)
            .env("CASSACHANGE_FIND_LINKS", dist));
        let expected = if step.contains("enterprise") {
            "enterprise"
        } else {
            "community"
        };
        assert_eq!(edition(&venv.join("bin/cassachange")), expected, "{step}");
    }

    // The composite action: its one step, with the inputs a workflow would pass.
    let action: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(tests_dir().join("../action.yml")).unwrap(),
    )
    .expect("action.yml is YAML");
    assert_eq!(action["runs"]["using"], "composite");
    let step = &action["runs"]["steps"][0];
    let run = |inputs: &[(&str, &str)]| {
        let runner_temp = tempfile::tempdir_in(scratch).unwrap();
        let outputs = runner_temp.path().join("outputs");
        let gh_path = runner_temp.path().join("path");
        let mut cmd = Command::new("bash");
        cmd.args(["-c", step["run"].as_str().unwrap()])
            .current_dir(&repo)
            .env("RUNNER_TEMP", runner_temp.path())
            .env("GITHUB_OUTPUT", &outputs)
            .env("GITHUB_PATH", &gh_path);
        for (k, v) in step["env"].as_mapping().unwrap() {
            let expr = v.as_str().unwrap();
            let input = expr
                .trim_start_matches("${{ inputs.")
                .trim_end_matches(" }}");
            let default = action["inputs"][input]["default"]
                .as_str()
                .unwrap_or_default();
            let value = inputs
                .iter()
                .find(|(i, _)| *i == input)
                .map_or(default, |(_, v)| *v);
            cmd.env(k.as_str().unwrap(), value);
        }
        let out = Output::of(&mut cmd);
        let written = std::fs::read_to_string(&outputs).unwrap_or_default();
        (out, written, runner_temp)
    };
    let links = dist.to_str().unwrap();
    let (out, written, _keep) = run(&[
        ("version", version),
        ("find-links", links),
        ("requirements", "requirements/cassachange-enterprise.txt"),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        written.contains("edition=enterprise"),
        "{written}\n{}",
        out.all()
    );
    assert!(
        out.stdout
            .contains(&format!("cassachange {version} (enterprise")),
        "{}",
        out.all()
    );

    let (out, _, _) = run(&[
        ("version", "9.9.9"),
        ("find-links", links),
        ("requirements", "requirements/cassachange.txt"),
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("does not pin cassachange==9.9.9"),
        "{}",
        out.all()
    );
    let (out, _, _) = run(&[
        ("version", version),
        ("requirements", "requirements/cassachange.txt"),
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("set 'find-links' or 'index-url'"),
        "{}",
        out.all()
    );

    // A wheel that is not the release's: pip refuses it, the action says why.
    let forged = repo.join("requirements/forged.txt");
    let text = std::fs::read_to_string(repo.join("requirements/cassachange.txt")).unwrap();
    let at = text.find("sha256:").unwrap() + "sha256:".len();
    let mut forged_text = text.clone();
    forged_text.replace_range(
        at..at + 4,
        if &text[at..at + 4] == "0000" {
            "1111"
        } else {
            "0000"
        },
    );
    std::fs::write(&forged, forged_text).unwrap();
    let (out, written, _) = run(&[
        ("version", version),
        ("find-links", links),
        ("requirements", "requirements/forged.txt"),
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.all().contains("DO NOT MATCH THE HASHES"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr
            .contains("a hash mismatch means the wheel is not the release's"),
        "{}",
        out.all()
    );
    assert!(written.is_empty(), "no outputs after a refusal: {written}");
}

//! Checks the plugin file on Unix: one `open` that never follows a link, the opened
//! file's owner and mode, its folder's owner and mode, then (Linux) a private copy in
//! memory of exactly the bytes that were checked.

use std::path::{Path, PathBuf};

use super::Checked;

/// Who may own the plugin and its folder: root and the owner of the binary.
fn trusted_owner(uid: u32) -> Result<(), u32> {
    use std::os::unix::fs::MetadataExt;
    let exe_uid = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map_or(0, |m| m.uid());
    if uid == 0 || uid == exe_uid {
        Ok(())
    } else {
        Err(exe_uid)
    }
}

/// Refuses a folder that someone other than root or the binary's owner could change
/// (group/world-writable is fine only with the sticky bit on a root-owned folder).
fn check_folder(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let meta = std::fs::metadata(dir)
        .map_err(|e| format!("cannot read its folder {}: {e}", dir.display()))?;
    trusted_owner(meta.uid()).map_err(|exe_uid| {
        format!(
            "its folder {} is owned by uid {}, not by root or by the owner of the cassachange binary (uid {exe_uid})",
            dir.display(),
            meta.uid()
        )
    })?;
    let sticky_root = meta.mode() & 0o1000 != 0 && meta.uid() == 0;
    if meta.mode() & 0o022 != 0 && !sticky_root {
        return Err(format!(
            "its folder {} is writable by group or others (mode {:o}): anyone who can write \
             there can replace the plugin; run: chmod go-w {}",
            dir.display(),
            meta.mode() & 0o7777,
            dir.display()
        ));
    }
    Ok(())
}

/// Opens the plugin once (never through a symbolic link), checks the opened file and
/// its folder, and returns what to load: on Linux a private in-memory copy of exactly
/// the bytes that were checked.
pub(in crate::edition) fn open_checked(path: &Path) -> Result<Checked, String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let nofollow = i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(path)
        .map_err(|e| {
            let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link {
                "it is a symbolic link; put the plugin file itself there".to_string()
            } else {
                format!("cannot read it: {e}")
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    trusted_owner(meta.uid()).map_err(|exe_uid| {
        format!(
            "it is owned by uid {}, not by root or by the owner of the cassachange binary (uid {exe_uid})",
            meta.uid()
        )
    })?;
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {:o}); run: chmod go-w {}",
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    check_folder(path)?;
    private_copy(file, path)
}

#[cfg(target_os = "linux")]
fn private_copy(mut file: std::fs::File, _path: &Path) -> Result<Checked, String> {
    use std::os::fd::AsRawFd;
    let fd = rustix::fs::memfd_create("cassachange-plugin", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| format!("cannot make a private copy of it in memory: {e}"))?;
    let mut copy = std::fs::File::from(fd);
    std::io::copy(&mut file, &mut copy)
        .map_err(|e| format!("cannot make a private copy of it in memory: {e}"))?;
    Ok(Checked {
        open: PathBuf::from(format!("/proc/self/fd/{}", copy.as_raw_fd())),
        _held: vec![copy],
    })
}

#[cfg(all(unix, not(target_os = "linux")))]
fn private_copy(file: std::fs::File, path: &Path) -> Result<Checked, String> {
    use std::os::unix::fs::MetadataExt;
    // No private copy here (no memfd): the loader opens the path again, so resolve it
    // after the checks and make sure it still names the file that was checked.
    let open = path
        .canonicalize()
        .map_err(|e| format!("cannot read it: {e}"))?;
    let checked = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    let now = std::fs::metadata(&open).map_err(|e| format!("cannot read it: {e}"))?;
    if (checked.dev(), checked.ino()) != (now.dev(), now.ino()) {
        return Err("it was replaced while it was being checked; run again".into());
    }
    Ok(Checked {
        open,
        _held: Vec::new(),
    })
}

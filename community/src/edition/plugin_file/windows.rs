//! Checks the plugin file on Windows: the file and its folder are each opened once,
//! without following a link and without delete sharing (so neither can be replaced,
//! renamed or deleted while the process holds them), their owners and DACLs are read
//! from those handles and judged by [`super::acl::judge`], and the loader is given the
//! file's final path as the open handle resolves it.
#![allow(unsafe_code)]

use std::os::windows::ffi::OsStringExt;
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};

use windows_sys::Win32::Foundation::{LocalFree, ERROR_SUCCESS, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, GetNamedSecurityInfoW, GetSecurityInfo, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    GetAce, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, PSID,
};
use windows_sys::Win32::Storage::FileSystem::{
    GetFinalPathNameByHandleW, FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_FLAG_OPEN_REPARSE_POINT, FILE_READ_ATTRIBUTES, FILE_SHARE_READ, FILE_SHARE_WRITE,
    READ_CONTROL,
};

use super::acl::{judge, Ace, Descriptor, Object};
use super::Checked;

const GENERIC_READ: u32 = 0x8000_0000;

/// Owner and DACL of an open handle (`Ok(None)`-free: every failure is a message).
fn descriptor_of(handle: HANDLE) -> Result<Descriptor, String> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `handle` is an open handle with READ_CONTROL; the out-pointers are valid,
    // and the descriptor they point into is freed once below (LocalFree).
    let status = unsafe {
        GetSecurityInfo(
            handle,
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &raw mut owner,
            std::ptr::null_mut(),
            &raw mut dacl,
            std::ptr::null_mut(),
            &raw mut sd,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(format!(
            "cannot read its security descriptor: {}",
            std::io::Error::from_raw_os_error(i32::try_from(status).unwrap_or(i32::MAX))
        ));
    }
    let read = || -> Result<Descriptor, String> {
        let owner = sid_text(owner)?;
        if dacl.is_null() {
            return Ok(Descriptor { owner, dacl: None });
        }
        // SAFETY: `dacl` points into the descriptor GetSecurityInfo returned.
        let count = unsafe { (*dacl).AceCount };
        let mut aces = Vec::with_capacity(usize::from(count));
        for i in 0..u32::from(count) {
            let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
            // SAFETY: `i` is below the ACL's own count.
            if unsafe { GetAce(dacl, i, &raw mut ace) } == 0 || ace.is_null() {
                return Err(format!("cannot read entry {i} of its access control list"));
            }
            // Every ACE starts with a header; the allowed/denied kinds (and their
            // callback forms) continue with the mask, then the SID.
            // SAFETY: GetAce returned a pointer to an entry of at least a header.
            let header = unsafe { &*(ace.cast::<ACE_HEADER>()) };
            let kind = header.AceType;
            let mask_at = ace
                .cast::<u8>()
                .wrapping_add(std::mem::size_of::<ACE_HEADER>());
            // SAFETY: every ACE kind has a 32-bit mask right after its header.
            let mask = unsafe { mask_at.cast::<u32>().read_unaligned() };
            let sid = if matches!(kind, 0 | 1 | 9 | 10) {
                sid_text(mask_at.wrapping_add(4) as PSID)?
            } else {
                String::new()
            };
            aces.push(Ace {
                kind,
                flags: header.AceFlags,
                mask,
                sid,
            });
        }
        Ok(Descriptor {
            owner,
            dacl: Some(aces),
        })
    };
    let out = read();
    // SAFETY: `sd` was allocated by GetSecurityInfo for us to free.
    unsafe { LocalFree(sd) };
    out
}

/// A SID as `S-1-…` text.
fn sid_text(sid: PSID) -> Result<String, String> {
    if sid.is_null() {
        return Err("its security descriptor names no owner".into());
    }
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` points at a SID inside a live descriptor; `text` is freed below.
    if unsafe { ConvertSidToStringSidW(sid, &raw mut text) } == 0 || text.is_null() {
        return Err("cannot read a SID of its security descriptor".into());
    }
    // A SID's text is short (under 200 characters); the bound only guards the walk.
    // SAFETY: ConvertSidToStringSidW returned a NUL-terminated UTF-16 string.
    let len = (0..1024)
        .take_while(|&i| unsafe { *text.add(i) } != 0)
        .count();
    // SAFETY: `len` code units were just read from `text`.
    let out = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) });
    // SAFETY: allocated by ConvertSidToStringSidW for us to free.
    unsafe { LocalFree(text.cast()) };
    Ok(out)
}

/// The SID owning the running cassachange binary (the one trusted owner besides
/// SYSTEM, Administrators and TrustedInstaller).
fn binary_owner() -> Result<String, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the cassachange binary: {e}"))?;
    let wide: Vec<u16> = exe.as_os_str().encode_wide_nul();
    let mut owner: PSID = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `wide` is NUL-terminated; the descriptor is freed below.
    let status = unsafe {
        GetNamedSecurityInfoW(
            wide.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &raw mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &raw mut sd,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(format!(
            "cannot read the owner of {}: {}",
            exe.display(),
            std::io::Error::from_raw_os_error(i32::try_from(status).unwrap_or(i32::MAX))
        ));
    }
    let out = sid_text(owner);
    // SAFETY: allocated by GetNamedSecurityInfoW for us to free.
    unsafe { LocalFree(sd) };
    out
}

trait EncodeWideNul {
    fn encode_wide_nul(&self) -> Vec<u16>;
}

impl EncodeWideNul for std::ffi::OsStr {
    fn encode_wide_nul(&self) -> Vec<u16> {
        use std::os::windows::ffi::OsStrExt;
        self.encode_wide().chain(std::iter::once(0)).collect()
    }
}

/// The path an open handle names now (`\\?\C:\…`).
fn final_path(file: &std::fs::File) -> Result<PathBuf, String> {
    let handle = file.as_raw_handle() as HANDLE;
    let mut buf = vec![0u16; 512];
    loop {
        let cap = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        // SAFETY: `buf` holds `cap` code units; 0 = the normalized DOS path.
        let n = unsafe { GetFinalPathNameByHandleW(handle, buf.as_mut_ptr(), cap, 0) } as usize;
        if n == 0 {
            return Err(format!(
                "cannot resolve its path: {}",
                std::io::Error::last_os_error()
            ));
        }
        if n < buf.len() {
            buf.truncate(n);
            return Ok(PathBuf::from(std::ffi::OsString::from_wide(&buf)));
        }
        buf.resize(n + 1, 0);
    }
}

fn open(path: &Path, folder: bool) -> std::io::Result<std::fs::File> {
    let flags = FILE_FLAG_OPEN_REPARSE_POINT
        | if folder {
            FILE_FLAG_BACKUP_SEMANTICS
        } else {
            0
        };
    // No FILE_SHARE_DELETE: while this handle lives nobody can delete, rename or
    // replace the object; no FILE_SHARE_WRITE on the file: nobody can rewrite it.
    let share = if folder {
        FILE_SHARE_READ | FILE_SHARE_WRITE
    } else {
        FILE_SHARE_READ
    };
    let access = READ_CONTROL | FILE_READ_ATTRIBUTES | if folder { 0 } else { GENERIC_READ };
    std::fs::OpenOptions::new()
        .access_mode(access)
        .share_mode(share)
        .custom_flags(flags)
        .open(path)
}

pub(in crate::edition) fn open_checked(path: &Path) -> Result<Checked, String> {
    let file = open(path, false).map_err(|e| format!("cannot read it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Err("it is a symbolic link or junction; put the plugin file itself there".into());
    }
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let trusted = binary_owner()?;
    judge(
        &descriptor_of(file.as_raw_handle() as HANDLE)?,
        Object::File,
        &trusted,
    )?;

    let resolved = final_path(&file)?;
    let dir = resolved
        .parent()
        .ok_or_else(|| format!("cannot find the folder of {}", resolved.display()))?;
    let folder =
        open(dir, true).map_err(|e| format!("cannot read its folder {}: {e}", dir.display()))?;
    let shown = dir
        .to_string_lossy()
        .trim_start_matches(r"\\?\")
        .to_string();
    judge(
        &descriptor_of(folder.as_raw_handle() as HANDLE)?,
        Object::Folder,
        &trusted,
    )
    .map_err(|e| e.replacen("its folder", &format!("its folder {shown}"), 1))?;
    Ok(Checked {
        open: resolved,
        _held: vec![file, folder],
    })
}

//! Defines how the plugin file is opened and checked before it is loaded, per OS. Only
//! the plugin file and its own folder are checked, never the folders above it.
//!
//! | OS      | refused when                                                  | loaded from                          |
//! |---------|---------------------------------------------------------------|--------------------------------------|
//! | Linux   | a link; owner not root/the binary's owner; group/world-writable file or folder (folder: unless root-owned and sticky) | a private in-memory copy of the checked bytes |
//! | macOS   | the same as Linux                                             | the path resolved again after the checks, refused if it names another file |
//! | Windows | a link (reparse point); owner not the binary's owner, Administrators, SYSTEM or TrustedInstaller; an ACE letting anyone else write, delete or re-permission the file or add/delete files in its folder | its final path, while the file and folder stay open without delete sharing (nobody can replace or rename them) |

#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub(super) use unix::open_checked;
#[cfg(windows)]
pub(super) use windows::open_checked;

use std::path::PathBuf;

/// The plugin file as it was checked.
pub(super) struct Checked {
    /// What to hand to the loader.
    pub(super) open: PathBuf,
    /// Kept open for the process's lifetime: the private copy (Linux), or the checked
    /// file and folder, opened without delete sharing (Windows).
    pub(super) _held: Vec<std::fs::File>,
}

#[cfg(not(any(unix, windows)))]
pub(super) fn open_checked(path: &std::path::Path) -> Result<Checked, String> {
    Err(format!(
        "this build of cassachange cannot check {} before loading it on this OS",
        path.display()
    ))
}

/// The security descriptor of a file or folder, read on Windows into plain values so
/// the rule that judges it is the same pure function everywhere (and unit-tested here).
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) mod acl {
    /// What kind of object the descriptor belongs to (the rights that matter differ).
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(crate) enum Object {
        File,
        Folder,
    }

    /// One access control entry.
    #[derive(Clone, Debug)]
    pub(crate) struct Ace {
        /// `ACE_HEADER.AceType`: 0 allowed, 1 denied, 9 allowed with a callback, …
        pub(crate) kind: u8,
        /// `ACE_HEADER.AceFlags`.
        pub(crate) flags: u8,
        pub(crate) mask: u32,
        /// The SID as text (`S-1-5-32-544`); empty when the entry has no plain SID.
        pub(crate) sid: String,
    }

    /// Owner and DACL; `dacl: None` is a NULL DACL (everyone may do anything).
    #[derive(Clone, Debug)]
    pub(crate) struct Descriptor {
        pub(crate) owner: String,
        pub(crate) dacl: Option<Vec<Ace>>,
    }

    const ACCESS_ALLOWED: u8 = 0;
    const ACCESS_DENIED: u8 = 1;
    const ACCESS_ALLOWED_CALLBACK: u8 = 9;
    const INHERIT_ONLY: u8 = 0x08;

    const FILE_WRITE_DATA: u32 = 0x2; // folder: add a file
    const FILE_APPEND_DATA: u32 = 0x4; // folder: add a subfolder
    const FILE_DELETE_CHILD: u32 = 0x40;
    const DELETE: u32 = 0x1_0000;
    const WRITE_DAC: u32 = 0x4_0000;
    const WRITE_OWNER: u32 = 0x8_0000;
    const GENERIC_ALL: u32 = 0x1000_0000;
    const GENERIC_WRITE: u32 = 0x4000_0000;

    /// Rights that let a holder change what would be loaded.
    fn dangerous(object: Object) -> u32 {
        let common = FILE_WRITE_DATA
            | FILE_APPEND_DATA
            | DELETE
            | WRITE_DAC
            | WRITE_OWNER
            | GENERIC_ALL
            | GENERIC_WRITE;
        match object {
            Object::File => common,
            // Adding files to the binary's folder also plants DLLs the loader may pick up.
            Object::Folder => common | FILE_DELETE_CHILD,
        }
    }

    /// SYSTEM, Administrators and TrustedInstaller: they can change any file anyway.
    pub(crate) const SYSTEM_SIDS: [&str; 3] = [
        "S-1-5-18",
        "S-1-5-32-544",
        "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464",
    ];
    /// OWNER RIGHTS: whoever owns the object (checked separately).
    const OWNER_RIGHTS: &str = "S-1-3-4";

    /// A readable name for the SIDs a refusal most often names.
    pub(crate) fn name(sid: &str) -> String {
        let known = match sid {
            "S-1-1-0" => "Everyone",
            "S-1-5-11" => "Authenticated Users",
            "S-1-5-32-545" => "Users",
            "S-1-5-32-546" => "Guests",
            "S-1-5-4" => "INTERACTIVE",
            "S-1-5-7" => "ANONYMOUS LOGON",
            "S-1-5-18" => "SYSTEM",
            "S-1-5-32-544" => "Administrators",
            _ => return sid.to_string(),
        };
        format!("{known} ({sid})")
    }

    /// Refuses an object whose owner is not trusted, or that anyone other than its
    /// owner, the binary's owner, SYSTEM, Administrators or TrustedInstaller may change
    /// (`trusted_owner`: the SID that owns the cassachange binary, who could replace
    /// the binary itself). Denying entries only take rights
    /// away, so they never make an object acceptable and are skipped.
    pub(crate) fn judge(d: &Descriptor, object: Object, trusted_owner: &str) -> Result<(), String> {
        let it = match object {
            Object::File => "it",
            Object::Folder => "its folder",
        };
        if d.owner != trusted_owner && !SYSTEM_SIDS.contains(&d.owner.as_str()) {
            return Err(format!(
                "{it} is owned by {}, not by Administrators, SYSTEM or the owner of the \
                 cassachange binary ({})",
                name(&d.owner),
                name(trusted_owner)
            ));
        }
        let Some(aces) = &d.dacl else {
            return Err(format!(
                "{it} has no access control list (a NULL DACL lets everyone change it)"
            ));
        };
        let may_change = |sid: &str| {
            sid == d.owner
                || sid == trusted_owner
                || sid == OWNER_RIGHTS
                || SYSTEM_SIDS.contains(&sid)
        };
        for ace in aces {
            if ace.flags & INHERIT_ONLY != 0 || ace.mask & dangerous(object) == 0 {
                continue;
            }
            match ace.kind {
                ACCESS_DENIED => {}
                ACCESS_ALLOWED | ACCESS_ALLOWED_CALLBACK if may_change(&ace.sid) => {}
                ACCESS_ALLOWED | ACCESS_ALLOWED_CALLBACK => {
                    return Err(format!(
                        "{it} lets {} change it (access mask {:#x}); only its owner, the \
                         binary's owner, Administrators and SYSTEM may: remove that entry (icacls)",
                        name(&ace.sid),
                        ace.mask
                    ));
                }
                other => {
                    return Err(format!(
                        "{it} has an access entry of a kind cassachange does not check (type \
                         {other}) granting write access; remove it (icacls)"
                    ));
                }
            }
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const ME: &str = "S-1-5-21-1-2-3-1001";
        const OTHER: &str = "S-1-5-21-1-2-3-1002";

        fn allow(sid: &str, mask: u32) -> Ace {
            Ace {
                kind: ACCESS_ALLOWED,
                flags: 0,
                mask,
                sid: sid.into(),
            }
        }

        fn desc(owner: &str, aces: Vec<Ace>) -> Descriptor {
            Descriptor {
                owner: owner.into(),
                dacl: Some(aces),
            }
        }

        /// A typical installed file: full control for the owner, SYSTEM and
        /// Administrators, read and execute for Users.
        fn typical() -> Vec<Ace> {
            vec![
                allow(ME, 0x1F_01FF),
                allow("S-1-5-18", 0x1F_01FF),
                allow("S-1-5-32-544", 0x1F_01FF),
                allow("S-1-5-32-545", 0x12_00A9),
            ]
        }

        #[test]
        fn a_typical_installation_is_accepted() {
            assert_eq!(judge(&desc(ME, typical()), Object::File, ME), Ok(()));
            assert_eq!(
                judge(&desc("S-1-5-32-544", typical()), Object::Folder, ME),
                Ok(())
            );
        }

        #[test]
        fn an_owner_other_than_the_binarys_is_refused() {
            let e = judge(&desc(OTHER, typical()), Object::File, ME).unwrap_err();
            assert!(e.starts_with("it is owned by S-1-5-21-1-2-3-1002"), "{e}");
        }

        #[test]
        fn write_for_everyone_or_users_is_refused_with_the_group_named() {
            let mut aces = typical();
            aces.push(allow("S-1-1-0", FILE_WRITE_DATA));
            let e = judge(&desc(ME, aces), Object::File, ME).unwrap_err();
            assert!(e.contains("lets Everyone (S-1-1-0) change it"), "{e}");

            let mut aces = typical();
            aces.push(allow("S-1-5-11", 0x1_301BF)); // "Modify" for Authenticated Users
            let e = judge(&desc(ME, aces), Object::Folder, ME).unwrap_err();
            assert!(
                e.starts_with("its folder lets Authenticated Users (S-1-5-11)"),
                "{e}"
            );
        }

        #[test]
        fn delete_child_matters_for_the_folder_only() {
            let mut aces = typical();
            aces.push(allow(OTHER, FILE_DELETE_CHILD));
            assert!(judge(&desc(ME, aces.clone()), Object::File, ME).is_ok());
            assert!(judge(&desc(ME, aces), Object::Folder, ME).is_err());
        }

        #[test]
        fn generic_and_permission_rights_count_as_write() {
            for mask in [GENERIC_ALL, GENERIC_WRITE, WRITE_DAC, WRITE_OWNER, DELETE] {
                let mut aces = typical();
                aces.push(allow(OTHER, mask));
                assert!(
                    judge(&desc(ME, aces), Object::File, ME).is_err(),
                    "{mask:#x}"
                );
            }
        }

        #[test]
        fn deny_and_inherit_only_entries_do_not_grant() {
            let mut aces = typical();
            aces.push(Ace {
                kind: ACCESS_DENIED,
                flags: 0,
                mask: GENERIC_ALL,
                sid: "S-1-1-0".into(),
            });
            aces.push(Ace {
                kind: ACCESS_ALLOWED,
                flags: INHERIT_ONLY,
                mask: GENERIC_ALL,
                sid: "S-1-3-0".into(),
            });
            assert_eq!(judge(&desc(ME, aces), Object::Folder, ME), Ok(()));
        }

        #[test]
        fn a_null_dacl_and_unknown_entry_kinds_are_refused() {
            let null = Descriptor {
                owner: ME.into(),
                dacl: None,
            };
            assert!(judge(&null, Object::File, ME)
                .unwrap_err()
                .contains("NULL DACL"));
            let mut aces = typical();
            aces.push(Ace {
                kind: 5,
                flags: 0,
                mask: FILE_WRITE_DATA,
                sid: String::new(),
            });
            assert!(judge(&desc(ME, aces), Object::File, ME)
                .unwrap_err()
                .contains("type 5"));
        }

        #[test]
        fn read_only_entries_for_anyone_are_fine() {
            let mut aces = typical();
            aces.push(allow("S-1-1-0", 0x12_00A9));
            assert_eq!(judge(&desc(ME, aces), Object::File, ME), Ok(()));
        }
    }
}

//! Our key and the peers' pinned keys on disk (docs/DESIGN.md, Encryption): a folder of
//! the user's, readable by them alone, as ssh keeps `~/.ssh`.
//!
//! - `key.der`: our private key (PKCS#8, Ed25519), mode 0600; refused if others may read
//!   it, as ssh refuses a key that is too open;
//! - `cert.der`: our self-signed certificate;
//! - `known_peers`: the peers' keys pinned on first use (llxmpp_secure::KnownKeys).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use llxmpp_secure::{Identity, KnownKeys};

/// The default folder: `$XDG_CONFIG_HOME/llxmpp`, else `~/.config/llxmpp`.
pub fn default_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
        .map(|d| d.join("llxmpp"))
}

/// Writes `bytes` to `path` readable by its owner only: into a new file beside it, then
/// renamed over it, so a crash leaves the old file or the new one, never half of one.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = fs::remove_file(&temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)
}

/// Our identity from `dir`, made there on first use.
pub fn load_or_create_identity(dir: &Path) -> Result<Identity, String> {
    let (key_path, cert_path) = (dir.join("key.der"), dir.join("cert.der"));
    match fs::metadata(&key_path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{} may be read by others (mode {mode:04o}): run `chmod 600 {}`, as ssh asks of its keys",
                    key_path.display(),
                    key_path.display()
                ));
            }
            let key = fs::read(&key_path)
                .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
            let cert = fs::read(&cert_path)
                .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?;
            Identity::from_der(key, cert)
                .map_err(|e| format!("{} and {}: {e}", key_path.display(), cert_path.display()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
            let identity = Identity::generate().map_err(|e| e.to_string())?;
            write_private(&cert_path, identity.certificate())
                .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
            write_private(&key_path, identity.key_pkcs8())
                .map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
            tracing::info!(key = %identity.fingerprint(), dir = %dir.display(), "made our key");
            Ok(identity)
        }
        Err(e) => Err(format!("cannot read {}: {e}", key_path.display())),
    }
}

/// The peers' pinned keys in `dir` (none yet if the file is not there), and the file.
pub fn load_known_keys(dir: &Path) -> Result<(KnownKeys, PathBuf), String> {
    let path = dir.join("known_peers");
    match fs::read_to_string(&path) {
        Ok(text) => KnownKeys::parse(&text)
            .map(|known| (known, path.clone()))
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((KnownKeys::new(), path)),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("llxmpp-keys-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_key_is_made_once_kept_private_and_refused_when_open() {
        let dir = scratch("make");
        let first = load_or_create_identity(&dir).unwrap();
        let mode = fs::metadata(dir.join("key.der"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let again = load_or_create_identity(&dir).unwrap();
        assert_eq!(again.fingerprint(), first.fingerprint());
        fs::set_permissions(dir.join("key.der"), fs::Permissions::from_mode(0o644)).unwrap();
        let refused = load_or_create_identity(&dir).unwrap_err();
        assert!(refused.contains("chmod 600"), "{refused}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn known_keys_read_back_and_a_bad_file_names_its_line() {
        let dir = scratch("known");
        fs::create_dir_all(&dir).unwrap();
        let (mut known, path) = load_known_keys(&dir).unwrap();
        assert_eq!(known, KnownKeys::new());
        known.remember("bob@b", llxmpp_secure::Fingerprint([4; 32]));
        write_private(&path, known.to_text().as_bytes()).unwrap();
        assert_eq!(load_known_keys(&dir).unwrap().0, known);
        fs::write(&path, "garbage\n").unwrap();
        assert!(load_known_keys(&dir).unwrap_err().contains("line 1"));
        fs::remove_dir_all(&dir).unwrap();
    }
}

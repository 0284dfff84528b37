//! The secrets the secret-leak tests configure, and the check that none of them, in
//! any form it could leak in, is in some bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::path::{Path, PathBuf};

pub const KISI_KEY: &str = "kisi-api-key-SECRET-4f1c9d";
pub const KISI_WRONG_KEY: &str = "kisi-wrong-key-SECRET-77aa01";
pub const PDK_ID: &str = "pdk-client-id-SECRET-2b7e55";
pub const PDK_SECRET: &str = "pdk-client-secret-SECRET-9c3d12";
pub const SEAM_KEY: &str = "seam_test_key_SECRET_5e6f3a";
pub const DF_ID: &str = "df-client-id-SECRET-a1a1a1";
pub const DF_SECRET: &str = "df-client-secret-SECRET-b2b2b2";
pub const DF_REFRESH: &str = "df-refresh-SECRET-c3c3c3";
pub const KISI_HOOK: &str = "kisi-hook-SECRET-0d0d0d";
pub const DF_HOOK: &str = "df-hook-SECRET-1e1e1e";
pub const SEAM_HOOK_KEY: &[u8] = b"seam-hook-SECRET-bytes-2f2f2f2f";

pub fn seam_hook_secret() -> String {
    format!("whsec_{}", B64.encode(SEAM_HOOK_KEY))
}

/// Every secret, and the encodings it could leak in (base64 of a Basic auth pair, the
/// bare base64 of the Svix key).
pub fn secret_forms() -> Vec<String> {
    let mut v: Vec<String> = [
        KISI_KEY,
        KISI_WRONG_KEY,
        PDK_ID,
        PDK_SECRET,
        SEAM_KEY,
        DF_ID,
        DF_SECRET,
        DF_REFRESH,
        KISI_HOOK,
        DF_HOOK,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(String::from_utf8_lossy(SEAM_HOOK_KEY).into_owned());
    v.push(seam_hook_secret());
    v.push(B64.encode(SEAM_HOOK_KEY));
    v.push(B64.encode(format!("{PDK_ID}:{PDK_SECRET}")));
    v.push(B64.encode(format!("{DF_ID}:{DF_SECRET}")));
    v
}

pub fn assert_clean(what: &str, bytes: &[u8]) {
    for s in secret_forms() {
        let found = bytes.windows(s.len()).any(|w| w == s.as_bytes());
        assert!(!found, "{what} contains the secret {s:?}");
    }
    // A fragment of every secret, in case one is cut or quoted in part.
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !text.contains("SECRET"),
        "{what} contains a secret fragment"
    );
}

/// Every regular file under `dir`, to search them all.
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if path.is_file() {
            // Not a socket a process left behind: it has no bytes to search.
            out.push(path);
        }
    }
}

//! The signing key file: loaded, or generated once and kept.

use std::path::Path;

use super::*;

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Whether tokens of `a` verify with `b`.
fn same_key(a: &JwtKeys, b: &JwtKeys) -> bool {
    let (token, _) = a
        .issue_access(Uuid::now_v7(), Uuid::now_v7(), start())
        .expect("issued");
    b.verify_access(&token, start()).is_ok()
}

#[test]
fn a_missing_key_file_is_generated_private_in_new_directories_and_then_kept() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("nested").join("deeper").join("jwt-key");

    let generated = JwtKeys::load_or_generate(&path).expect("generated");
    let text = std::fs::read_to_string(&path).expect("written");
    let again = JwtKeys::load_or_generate(&path).expect("loaded");
    let loaded = JwtKeys::load(&path).expect("loaded");

    // 64 random bytes as unpadded base64url.
    assert_eq!(text.len(), 86);
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert!(same_key(&generated, &again));
    assert!(same_key(&generated, &loaded));
    assert!(same_key(
        &generated,
        &JwtKeys::from_secret(text.as_bytes()).expect("a key")
    ));
    assert_eq!(
        files_in(&dir.path().join("nested").join("deeper")),
        ["jwt-key"]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn two_generated_files_differ() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let a = JwtKeys::load_or_generate(&dir.path().join("a")).expect("generated");
    let b = JwtKeys::load_or_generate(&dir.path().join("b")).expect("generated");
    assert!(!same_key(&a, &b));
}

#[test]
fn an_existing_key_file_is_used_trimmed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("jwt-key");
    let secret = "a configured secret of more than thirty-two bytes";
    std::fs::write(&path, format!("  {secret}\n")).expect("written");

    let loaded = JwtKeys::load(&path).expect("loaded");
    let kept = JwtKeys::load_or_generate(&path).expect("loaded");

    let configured = JwtKeys::from_secret(secret.as_bytes()).expect("a key");
    assert!(same_key(&configured, &loaded));
    assert!(same_key(&configured, &kept));
    assert_eq!(
        std::fs::read_to_string(&path).expect("readable"),
        format!("  {secret}\n")
    );
}

#[test]
fn a_short_key_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("jwt-key");
    std::fs::write(&path, "short\n").expect("written");

    for result in [JwtKeys::load(&path), JwtKeys::load_or_generate(&path)] {
        let error = result.expect_err("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(!error.to_string().contains("short"));
    }
    assert_eq!(std::fs::read_to_string(&path).expect("readable"), "short\n");
}

#[test]
fn load_needs_the_file_to_exist() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("missing");

    let error = JwtKeys::load(&path).expect_err("missing");

    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    assert!(!path.exists());
}

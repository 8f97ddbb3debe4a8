//! The launcher as users meet it: help, bad configuration, a clean start and stop.
//!
//! Also guarantees that `cargo test --workspace` builds the `saas` binary, which the
//! multi-process tests in `tests/` run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn saas() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_saas"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SAAS_") {
            command.env_remove(key);
        }
    }
    command
}

fn temp_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("saas-cli-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn help_explains_every_setting() {
    let output = saas().args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success());
    let top = saas().arg("--help").output().unwrap();
    let text =
        String::from_utf8_lossy(&top.stdout).to_string() + &String::from_utf8_lossy(&output.stdout);
    for setting in [
        "SAAS_DATA_DIR",
        "SAAS_GRPC_ADDR",
        "SAAS_IDENTITY_DATABASE_URL",
        "SAAS_WORKSPACE_DATABASE_URL",
        "SAAS_BILLING_DATABASE_URL",
        "SAAS_SWEEP_INTERVAL_SECS",
        "SAAS_SERVICE_TOKEN",
        "SAAS_ARGON2",
        "SAAS_CONCURRENCY_LIMIT",
        "--data-dir",
        "identity",
        "workspace",
        "billing",
    ] {
        assert!(
            text.contains(setting),
            "help does not mention {setting}:\n{text}"
        );
    }
}

fn one_line_error(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    lines[0].to_owned()
}

#[test]
fn bad_listen_address_is_a_one_line_error() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "--data-dir"])
            .arg(&dir)
            .env("SAAS_GRPC_ADDR", "not-an-address"),
    );
    assert!(line.contains("SAAS_GRPC_ADDR"), "{line}");
}

#[test]
fn bad_argon2_parameters_are_a_one_line_error() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "--data-dir"])
            .arg(&dir)
            .env("SAAS_ARGON2", "m=lots"),
    );
    assert!(line.contains("SAAS_ARGON2"), "{line}");
}

#[test]
fn unreachable_database_is_a_one_line_error() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "identity", "--data-dir"])
            .arg(&dir)
            .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
            .env("SAAS_IDENTITY_DATABASE_URL", "mysql://nowhere/db"),
    );
    assert!(line.contains("identity database"), "{line}");
}

#[test]
fn missing_config_file_is_a_one_line_error() {
    let line = one_line_error(saas().args(["--config", "/nonexistent/saas.toml", "serve"]));
    assert!(line.contains("/nonexistent/saas.toml"), "{line}");
}

#[test]
fn serve_generates_a_private_service_token_and_stops_on_sigterm() {
    let dir = temp_dir();
    let mut child = saas()
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
        .env("SAAS_ARGON2", "m=8,t=1,p=1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("grpc listening on ");
        printed.push(line);
        if done {
            break;
        }
    }
    let token_path = dir.join("service-token");
    assert!(
        printed
            .iter()
            .any(|l| l == &format!("service token: {}", token_path.display())),
        "{printed:?}"
    );
    for context in ["identity", "workspace", "billing"] {
        assert!(
            dir.join(format!("{context}.db")).exists(),
            "{context}.db missing"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "token file is readable by others: {mode:o}"
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "saas did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    std::fs::remove_dir_all(dir).ok();
}

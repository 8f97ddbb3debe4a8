//! The launcher as users meet it: help, bad configuration, a clean start and stop.
//!
//! Also guarantees that `cargo test --workspace` builds the `saas` binary, which the
//! multi-process tests in `tests/` run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, ChildStdout, Command, Stdio},
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

/// `saas config keys`, one variable a line.
fn config_keys() -> Vec<String> {
    let output = saas().args(["config", "keys"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn config_keys_lists_every_variable_once() {
    let keys = config_keys();
    for key in [
        "SAAS_CONFIG",
        "SAAS_LOG",
        "SAAS_DATA_DIR",
        "SAAS_GRPC_ADDR",
        "SAAS_HTTP_ADDR",
        "SAAS_SERVICE_TOKEN",
        "SAAS_NATS_URL",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing: {keys:?}");
    }
    assert!(
        keys.iter().all(|k| k.starts_with("SAAS_")
            && k.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')),
        "{keys:?}"
    );
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(unique, keys, "sorted, each once");
}

#[test]
fn help_explains_every_setting() {
    let output = saas().args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success());
    let top = saas().arg("--help").output().unwrap();
    let text =
        String::from_utf8_lossy(&top.stdout).to_string() + &String::from_utf8_lossy(&output.stdout);
    let keys = config_keys();
    let others = [
        "dns://",
        "--data-dir",
        "identity",
        "workspace",
        "billing",
        "notifications",
        "edge",
        "config keys",
    ];
    for setting in keys.iter().map(String::as_str).chain(others) {
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
            .env("SAAS_BUS", "local")
            .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
            .env("SAAS_IDENTITY_DATABASE_URL", "mysql://nowhere/db"),
    );
    assert!(line.contains("identity database"), "{line}");
}

#[test]
fn a_missing_postgres_database_is_one_clear_line() {
    let Ok(server) = std::env::var("SAAS_TEST_POSTGRES_URL") else {
        eprintln!("skipped: SAAS_TEST_POSTGRES_URL is not set");
        return;
    };
    // The test server's URL with a database name nobody made.
    let base = server
        .rsplit_once('/')
        .map_or(server.as_str(), |(base, _)| base);
    let name = format!("saas_missing_{}", std::process::id());
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "identity", "--data-dir"])
            .arg(&dir)
            .env("SAAS_BUS", "local")
            .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
            .env("SAAS_IDENTITY_DATABASE_URL", format!("{base}/{name}")),
    );
    assert!(line.contains("identity database"), "{line}");
    assert!(
        line.contains(&format!("\"{name}\" does not exist")),
        "{line}"
    );
    assert!(line.contains("createdb -h "), "{line}");
    assert!(line.ends_with(&format!(" {name})")), "{line}");
    assert!(!line.contains(" at line "), "{line}");
    std::fs::remove_dir_all(dir).ok();
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
        .env("SAAS_HTTP_ADDR", "127.0.0.1:0")
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

#[test]
fn edge_alone_without_its_data_services_is_a_one_line_error() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "edge", "--data-dir"])
            .arg(&dir)
            .env("SAAS_BUS", "local")
            .env("SAAS_HTTP_ADDR", "127.0.0.1:0"),
    );
    assert!(line.contains("SAAS_IDENTITY_URL"), "{line}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn edge_alone_without_a_jwt_key_file_is_a_one_line_error() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "edge", "--data-dir"])
            .arg(&dir)
            .env("SAAS_BUS", "local")
            .env("SAAS_HTTP_ADDR", "127.0.0.1:0")
            .env("SAAS_IDENTITY_URL", "http://127.0.0.1:1")
            .env("SAAS_WORKSPACE_URL", "http://127.0.0.1:1")
            .env("SAAS_BILLING_URL", "http://127.0.0.1:1")
            .env("SAAS_NOTIFICATIONS_URL", "http://127.0.0.1:1"),
    );
    assert!(line.contains("SAAS_JWT_KEY_FILE"), "{line}");
    assert!(
        !dir.join("jwt-key").exists(),
        "an edge apart from the data services must not make up a key of its own"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_http_address_is_a_one_line_error() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "--data-dir"])
            .arg(&dir)
            .env("SAAS_HTTP_ADDR", "localhost:eighty"),
    );
    assert!(line.contains("SAAS_HTTP_ADDR"), "{line}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_rate_limits_are_a_one_line_error() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "--data-dir"])
            .arg(&dir)
            .env("SAAS_RATE_LIMITS", "ip=lots"),
    );
    assert!(line.contains("SAAS_RATE_LIMITS"), "{line}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn data_service_url_that_is_not_http_is_a_one_line_error() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "edge", "--data-dir"])
            .arg(&dir)
            .env("SAAS_IDENTITY_URL", "127.0.0.1:50051"),
    );
    assert!(line.contains("SAAS_IDENTITY_URL"), "{line}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_discovery_settings_are_one_line_errors() {
    for (name, value) in [
        ("SAAS_ETCD_URL", "127.0.0.1:2379"),
        ("SAAS_ADVERTISE_ADDR", "http://10.0.0.1:50051"),
        ("SAAS_ETCD_LEASE_TTL_SECS", "0"),
        ("SAAS_DNS_REFRESH_SECS", "soon"),
        ("SAAS_IDENTITY_URL", "dns://identity"),
        ("SAAS_IDENTITY_URL", "http://a:1,dns://b:2"),
        ("SAAS_CALLS", "attempts=0"),
        ("SAAS_CALLS", "retries=5"),
        ("SAAS_CALLS", "command_budget_ms=1000"),
        ("SAAS_BUS", "sometimes"),
    ] {
        let dir = temp_dir();
        let line = one_line_error(
            saas()
                .args(["serve", "edge", "--data-dir"])
                .arg(&dir)
                .env(name, value),
        );
        assert!(line.contains(name), "{name}={value}: {line}");
        std::fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn registering_a_port_on_every_interface_needs_an_advertised_address() {
    let dir = temp_dir();
    let line = one_line_error(
        saas()
            .args(["serve", "identity", "--data-dir"])
            .arg(&dir)
            .env("SAAS_BUS", "local")
            .env("SAAS_GRPC_ADDR", "0.0.0.0:0")
            .env("SAAS_ETCD_URL", "http://127.0.0.1:1"),
    );
    assert!(line.contains("SAAS_ADVERTISE_ADDR"), "{line}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_process_of_the_split_topology_without_nats_is_refused_in_one_line() {
    for component in ["identity", "edge"] {
        let dir = temp_dir();
        let line = one_line_error(
            saas()
                .args(["serve", component, "--data-dir"])
                .arg(&dir)
                .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
                .env("SAAS_HTTP_ADDR", "127.0.0.1:0"),
        );
        assert!(line.contains("SAAS_NATS_URL"), "{line}");
        assert!(line.contains("SAAS_BUS=local"), "{line}");
        assert!(line.contains(component), "{line}");
        assert!(
            !dir.join("bus.db").exists(),
            "refused before opening a bus of its own"
        );
        std::fs::remove_dir_all(dir).ok();
    }
    for (value, says) in [("carrier-pigeon", "neither"), ("nats", "SAAS_NATS_URL")] {
        let line = one_line_error(
            saas()
                .args(["serve", "identity", "--data-dir"])
                .arg(temp_dir())
                .env("SAAS_BUS", value),
        );
        assert!(line.contains("SAAS_BUS") && line.contains(says), "{line}");
    }
    let line = one_line_error(
        saas()
            .args(["serve", "identity", "--data-dir"])
            .arg(temp_dir())
            .env("SAAS_BUS", "local")
            .env("SAAS_NATS_URL", "nats://127.0.0.1:1"),
    );
    assert!(line.contains("SAAS_BUS"), "{line}");
}

#[test]
fn a_process_of_the_split_topology_with_bus_local_serves_on_its_own_bus() {
    let dir = temp_dir();
    let (child, mut lines) = running(
        saas()
            .args(["serve", "identity", "--data-dir"])
            .arg(&dir)
            .env("SAAS_BUS", "local")
            .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
            .env("SAAS_ARGON2", "m=8,t=1,p=1"),
    );
    let mut printed = Vec::new();
    let listening = lines.by_ref().map_while(Result::ok).any(|line| {
        printed.push(line.clone());
        line.starts_with("grpc listening on ")
    });
    assert!(listening, "it stopped before serving: {printed:?}");
    assert!(dir.join("bus.db").exists(), "the in-process bus is used");
    drop(child);
    drop(lines);
    std::fs::remove_dir_all(dir).ok();
}

/// A child process that is killed when dropped, so a failing test leaves nothing running.
struct Running(Child);

/// Starts `command` with its standard output piped (its errors dropped): the running process
/// and the lines it prints.
fn running(command: &mut Command) -> (Running, std::io::Lines<BufReader<ChildStdout>>) {
    let mut child = Running(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    (child, lines)
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The status code of `GET path` over plain HTTP/1.1, or `None` when nothing answers.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let status_line = response.lines().next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[test]
fn embedded_serve_generates_a_private_jwt_key_answers_readyz_and_stops_on_sigterm() {
    let dir = temp_dir();
    // The lines are kept open until the process ends, so nothing it prints meets a closed pipe.
    let (mut child, mut lines) = running(
        saas()
            .args(["serve", "--data-dir"])
            .arg(&dir)
            .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
            .env("SAAS_HTTP_ADDR", "127.0.0.1:0")
            .env("SAAS_ARGON2", "m=8,t=1,p=1"),
    );
    let mut printed = Vec::new();
    let mut http_addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(addr) = line.strip_prefix("http listening on ") {
            http_addr = Some(addr.trim().parse::<SocketAddr>().unwrap());
        }
        printed.push(line);
        if http_addr.is_some() {
            break;
        }
    }
    let http_addr = http_addr.unwrap_or_else(|| panic!("no HTTP address printed: {printed:?}"));
    assert!(
        printed.iter().any(|l| l.starts_with("grpc listening on ")),
        "{printed:?}"
    );
    let key_path = dir.join("jwt-key");
    assert!(
        printed
            .iter()
            .any(|l| l == &format!("jwt key: {}", key_path.display())),
        "{printed:?}"
    );
    let key = std::fs::read_to_string(&key_path).unwrap();
    assert!(
        key.trim().len() >= 32,
        "the generated key is short: {key:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "jwt-key mode is {mode:o}");
    }

    // The data services start serving just after the edge binds: poll until ready.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while last != Some(200) {
        assert!(
            Instant::now() < deadline,
            "/readyz did not answer 200 within 30 s (last: {last:?})"
        );
        last = http_status(http_addr, "/readyz");
        if last != Some(200) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "saas did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    drop(lines);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dead_letters_are_listed_and_redriven_to_their_consumer() {
    use platform::bus::{Message, Publisher, Subscriber, local::LocalBus};

    let dir = temp_dir();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let consumer_gets = |id: &'static str| {
        runtime.block_on(async {
            let bus = LocalBus::open(&dir.join("bus.db")).await.unwrap();
            let mut consumer = bus
                .consumer("policy-cli-test", "saas.events.test.>")
                .await
                .unwrap();
            let delivery = consumer
                .next(Duration::from_secs(5))
                .await
                .unwrap()
                .expect("a delivery");
            assert_eq!(delivery.message.id, id);
            (consumer, delivery)
        })
    };
    runtime.block_on(async {
        let bus = LocalBus::open(&dir.join("bus.db")).await.unwrap();
        bus.publish(Message {
            subject: "saas.events.test.thing.happened".into(),
            id: "event-1".into(),
            payload: vec![1, 2, 3],
        })
        .await
        .unwrap();
    });
    let (mut consumer, delivery) = consumer_gets("event-1");
    runtime
        .block_on(consumer.park(&delivery, "it broke"))
        .unwrap();
    drop(consumer);

    let data_dir = dir.to_str().unwrap();
    let listed = saas()
        .args(["dead-letters", "list", "--data-dir", data_dir])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("policy-cli-test\tevent-1\tsaas.events.test.thing.happened")
            && text.contains("it broke"),
        "{text}"
    );

    let redriven = saas()
        .args([
            "dead-letters",
            "redrive",
            "--consumer",
            "policy-cli-test",
            "--data-dir",
            data_dir,
        ])
        .output()
        .unwrap();
    assert!(redriven.status.success(), "{redriven:?}");
    assert_eq!(
        String::from_utf8_lossy(&redriven.stdout).trim(),
        "redriven: 1"
    );

    let listed = saas()
        .args(["dead-letters", "list", "--data-dir", data_dir])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).trim().is_empty());
    let (_consumer, again) = consumer_gets("event-1");
    assert_eq!(again.message.payload, vec![1, 2, 3]);
    std::fs::remove_dir_all(&dir).ok();
}

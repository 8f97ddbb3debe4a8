//! The project's architecture test: the dependency rules of PRODUCT.md, checked on the
//! workspace as `cargo metadata` sees it. Only normal dependencies count (dev- and
//! build-dependencies are tooling, not architecture).
//!
//! - `domain/*` is pure: no runtime, RPC, database, web, logging or network crates, and no
//!   workspace crate outside `domain/`.
//! - `data-services/<ctx>` uses exactly one context domain crate, its own (besides the kernel
//!   `kernel-domain`), only its own migrations, never another data service or an app service.
//! - `app-services/*` never touch a database: no data service, migrations, sea-orm or sqlx.
//! - The use cases (`access-app`, `account-app`, `team-app`, `plan-app`) do not reach tonic,
//!   prost or `saas-proto`, not even through another crate: their ports speak the
//!   application's language and only `adapters-app` maps it to the wire.
//! - Outside `app-services/`, only the launcher (`saas`), `tests/` (`saas-tests`) and the
//!   benchmark (`saas-bench`) depend on app services.
//! - `proto` depends on none of our crates; `platform` on no context domain crate, data
//!   service or app service (the kernel is allowed).
//! - Crates are named `<context>-<layer>` after their folder: `domain/<ctx>` is
//!   `<ctx>-domain`, `data-services/<ctx>` is `<ctx>-data`, `migrations/<ctx>` is
//!   `<ctx>-migrations`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use serde_json::Value;

/// Crates (and their families: `tokio-stream`, `sea-orm-migration`, ...) a domain crate
/// must not use.
const IMPURE: &[&str] = &[
    "tokio",
    "tonic",
    "prost",
    "sea-orm",
    "sea-query",
    "sqlx",
    "axum",
    "hyper",
    "tower",
    "tracing",
    "reqwest",
    "async-nats",
    "redis",
    "etcd-client",
    "lettre",
    "jsonwebtoken",
    "mio",
    "rusqlite",
];

/// Crates through which an app service would touch a database.
const DATABASE: &[&str] = &["sea-orm", "sea-query", "sqlx", "rusqlite"];

/// The crates outside `app-services/` allowed to depend on app services.
const APP_SERVICE_USERS: &[(&str, &str)] = &[
    ("saas", "saas"),
    ("saas-tests", "tests"),
    ("saas-bench", "bench"),
];

/// The kernel, the one domain crate every layer may use.
const KERNEL: &str = "kernel-domain";

/// `name` is `base` or one of its family (`base-...`).
fn in_family(name: &str, bases: &[&str]) -> bool {
    bases.iter().any(|base| {
        name == *base
            || name
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('_'))
    })
}

/// Where a workspace crate lives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Crate {
    name: String,
    /// The top-level folder (`domain`, `data-services`, `proto`, ...).
    layer: String,
    /// The folder below the layer folder, for layered crates (`identity`, `kernel`).
    context: Option<String>,
    /// Names of its normal dependencies.
    dependencies: BTreeSet<String>,
}

impl Crate {
    fn is(&self, layer: &str) -> bool {
        self.layer == layer
    }

    fn is_context_domain(&self) -> bool {
        self.is("domain") && self.name != KERNEL
    }
}

/// Reads the workspace crates out of `cargo metadata --format-version 1 --no-deps`.
fn crates(metadata: &Value) -> Result<Vec<Crate>, String> {
    let root = metadata["workspace_root"]
        .as_str()
        .ok_or("metadata has no workspace_root")?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("metadata has no packages")?;
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for package in packages {
        if !members.is_empty()
            && !package["id"]
                .as_str()
                .is_some_and(|id| members.contains(id))
        {
            continue;
        }
        let name = package["name"].as_str().ok_or("a package without a name")?;
        let manifest = package["manifest_path"]
            .as_str()
            .ok_or_else(|| format!("{name} has no manifest_path"))?;
        let relative = Path::new(manifest)
            .strip_prefix(root)
            .map_err(|_| format!("{name} ({manifest}) lies outside the workspace {root}"))?;
        let folders: Vec<String> = relative
            .parent()
            .map(|dir| {
                dir.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let layer = folders.first().cloned().unwrap_or_default();
        let dependencies = package["dependencies"]
            .as_array()
            .map(|deps| {
                deps.iter()
                    // `kind` is null for normal dependencies, "dev" or "build" otherwise.
                    .filter(|dep| dep["kind"].is_null())
                    .filter_map(|dep| dep["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Crate {
            name: name.to_owned(),
            layer,
            context: folders.get(1).cloned(),
            dependencies,
        });
    }
    Ok(out)
}

/// Every broken rule, one line each; empty when the workspace follows them all.
fn violations(metadata: &Value) -> Vec<String> {
    let crates = match crates(metadata) {
        Ok(crates) => crates,
        Err(e) => return vec![format!("cannot read the metadata: {e}")],
    };
    let ours: BTreeMap<&str, &Crate> = crates.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut found = Vec::new();
    for krate in &crates {
        let name = &krate.name;
        let workspace_deps: Vec<&Crate> = krate
            .dependencies
            .iter()
            .filter_map(|dep| ours.get(dep.as_str()).copied())
            .collect();

        // Naming: <context>-<layer> after the folder.
        let suffix = match krate.layer.as_str() {
            "domain" => Some("domain"),
            "data-services" => Some("data"),
            "migrations" => Some("migrations"),
            _ => None,
        };
        if let Some(suffix) = suffix {
            match &krate.context {
                Some(context) if *name == format!("{context}-{suffix}") => {}
                Some(context) => found.push(format!(
                    "{name} in {}/{context}/ must be named {context}-{suffix}",
                    krate.layer
                )),
                None => found.push(format!(
                    "{name} must live in {}/<context>/, not at the top of {}/",
                    krate.layer, krate.layer
                )),
            }
        }

        match krate.layer.as_str() {
            "domain" => {
                for dep in &krate.dependencies {
                    if in_family(dep, IMPURE) {
                        found.push(format!("domain crate {name} depends on {dep}"));
                    }
                }
                for dep in &workspace_deps {
                    if !dep.is("domain") {
                        found.push(format!(
                            "domain crate {name} depends on the non-domain crate {}",
                            dep.name
                        ));
                    }
                }
            }
            "data-services" => {
                let domains: Vec<&str> = workspace_deps
                    .iter()
                    .filter(|d| d.is_context_domain())
                    .map(|d| d.name.as_str())
                    .collect();
                let own = krate.context.as_ref().map(|c| format!("{c}-domain"));
                if domains.len() != 1 || own.as_deref() != Some(domains[0]) {
                    found.push(format!(
                        "data service {name} must depend on exactly one context domain crate, \
                         its own ({}), but depends on {domains:?}",
                        own.as_deref().unwrap_or("?")
                    ));
                }
                let own_migrations = krate.context.as_ref().map(|c| format!("{c}-migrations"));
                for dep in &workspace_deps {
                    if dep.is("data-services") {
                        found.push(format!(
                            "data service {name} depends on the data service {}",
                            dep.name
                        ));
                    }
                    if dep.is("app-services") {
                        found.push(format!(
                            "data service {name} depends on the app service {}",
                            dep.name
                        ));
                    }
                    if dep.is("migrations") && own_migrations.as_deref() != Some(&dep.name) {
                        found.push(format!(
                            "data service {name} depends on another context's migrations {}",
                            dep.name
                        ));
                    }
                }
            }
            "app-services" => {
                for dep in &krate.dependencies {
                    if in_family(dep, DATABASE) {
                        found.push(format!("app service {name} depends on {dep}"));
                    }
                }
                for dep in &workspace_deps {
                    if dep.is("data-services") || dep.is("migrations") {
                        found.push(format!(
                            "app service {name} depends on {} ({}/)",
                            dep.name, dep.layer
                        ));
                    }
                }
            }
            "proto" => {
                for dep in &workspace_deps {
                    found.push(format!(
                        "proto crate {name} depends on our crate {}",
                        dep.name
                    ));
                }
            }
            "platform" => {
                for dep in &workspace_deps {
                    if dep.is_context_domain() || dep.is("data-services") || dep.is("app-services")
                    {
                        found.push(format!(
                            "platform crate {name} depends on {} ({}/)",
                            dep.name, dep.layer
                        ));
                    }
                }
            }
            _ => {}
        }

        // Only app services themselves, the launcher, the tests and the bench use app services.
        let may_use_app_services = krate.is("app-services")
            || APP_SERVICE_USERS
                .iter()
                .any(|(user, folder)| name == user && krate.layer == *folder);
        if !may_use_app_services {
            for dep in &workspace_deps {
                if dep.is("app-services") {
                    found.push(format!(
                        "{name} ({}/) depends on the app service {}",
                        krate.layer, dep.name
                    ));
                }
            }
        }
    }
    found
}

fn workspace_metadata() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies in the workspace");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn the_workspace_follows_the_dependency_rules() {
    let metadata = workspace_metadata();
    let crates = crates(&metadata).unwrap();
    // The checker really saw the layers (a path mix-up would make every rule vacuous).
    for expected in [
        "kernel-domain",
        "identity-domain",
        "identity-data",
        "platform",
    ] {
        assert!(
            crates.iter().any(|c| c.name == expected),
            "{expected} is missing from {crates:?}"
        );
    }
    assert!(crates.iter().any(|c| c.is("data-services")));
    assert!(
        crates
            .iter()
            .any(|c| c.is("domain") && !c.dependencies.is_empty())
    );
    let found = violations(&metadata);
    assert!(
        found.is_empty(),
        "dependency rules broken:\n  {}",
        found.join("\n  ")
    );
}

/// A dependency of a fabricated crate: `(name, kind)`, kind `None` for a normal one.
type Dep = (&'static str, Option<&'static str>);

/// A fabricated crate: `(name, folder, dependencies)`.
type Fake = (&'static str, &'static str, &'static [Dep]);

/// A fabricated `cargo metadata` document.
fn fabricated(crates: &[Fake]) -> Value {
    let root = "/ws";
    let packages: Vec<Value> = crates
        .iter()
        .map(|(name, folder, deps)| {
            serde_json::json!({
                "name": name,
                "id": format!("path+file://{root}/{folder}#{name}@0.1.0"),
                "manifest_path": format!("{root}/{folder}/Cargo.toml"),
                "dependencies": deps.iter().map(|(dep, kind)| serde_json::json!({
                    "name": dep,
                    "kind": kind,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let members: Vec<Value> = packages.iter().map(|p| p["id"].clone()).collect();
    serde_json::json!({
        "workspace_root": root,
        "packages": packages,
        "workspace_members": members,
    })
}

/// A small workspace that follows every rule.
fn lawful() -> Vec<Fake> {
    vec![
        (
            "kernel-domain",
            "domain/kernel",
            &[("uuid", None), ("thiserror", None)],
        ),
        (
            "identity-domain",
            "domain/identity",
            &[("kernel-domain", None), ("tokio", Some("dev"))],
        ),
        (
            "billing-domain",
            "domain/billing",
            &[("kernel-domain", None)],
        ),
        ("saas-proto", "proto", &[("prost", None), ("tonic", None)]),
        (
            "platform",
            "platform",
            &[("kernel-domain", None), ("sea-orm", None)],
        ),
        (
            "identity-migrations",
            "migrations/identity",
            &[("platform", None)],
        ),
        (
            "identity-data",
            "data-services/identity",
            &[
                ("identity-domain", None),
                ("kernel-domain", None),
                ("identity-migrations", None),
                ("saas-proto", None),
                ("platform", None),
            ],
        ),
        ("signup-app", "app-services/signup", &[("saas-proto", None)]),
        (
            "saas",
            "saas",
            &[("identity-data", None), ("signup-app", None)],
        ),
        ("saas-tests", "tests", &[("signup-app", None)]),
        ("saas-bench", "bench", &[("signup-app", None)]),
    ]
}

fn violations_with(change: impl FnOnce(&mut Vec<Fake>)) -> Vec<String> {
    let mut crates = lawful();
    change(&mut crates);
    violations(&fabricated(&crates))
}

#[test]
fn the_checker_accepts_a_lawful_workspace() {
    assert_eq!(violations(&fabricated(&lawful())), Vec::<String>::new());
}

#[test]
fn the_checker_catches_a_domain_crate_on_tokio() {
    let found = violations_with(|crates| {
        crates[1] = (
            "identity-domain",
            "domain/identity",
            &[("kernel-domain", None), ("tokio", None)],
        );
    });
    assert_eq!(found, ["domain crate identity-domain depends on tokio"]);
    // The family counts too.
    let found = violations_with(|crates| {
        crates[0] = (
            "kernel-domain",
            "domain/kernel",
            &[("sea-orm-migration", None)],
        );
    });
    assert_eq!(
        found,
        ["domain crate kernel-domain depends on sea-orm-migration"]
    );
}

#[test]
fn the_checker_catches_every_other_rule() {
    let cases: Vec<(Fake, &str)> = vec![
        (
            ("identity-domain", "domain/identity", &[("platform", None)]),
            "domain crate identity-domain depends on the non-domain crate platform",
        ),
        (
            (
                "identity-data",
                "data-services/identity",
                &[("identity-domain", None), ("billing-domain", None)],
            ),
            "data service identity-data must depend on exactly one context domain crate, \
             its own (identity-domain), but depends on [\"billing-domain\", \"identity-domain\"]",
        ),
        (
            ("saas-proto", "proto", &[("kernel-domain", None)]),
            "proto crate saas-proto depends on our crate kernel-domain",
        ),
        (
            ("platform", "platform", &[("identity-domain", None)]),
            "platform crate platform depends on identity-domain (domain/)",
        ),
        (
            ("signup-app", "app-services/signup", &[("sqlx", None)]),
            "app service signup-app depends on sqlx",
        ),
        (
            (
                "signup-app",
                "app-services/signup",
                &[("identity-data", None)],
            ),
            "app service signup-app depends on identity-data (data-services/)",
        ),
        (
            (
                "identity-migrations",
                "migrations/identity",
                &[("signup-app", None)],
            ),
            "identity-migrations (migrations/) depends on the app service signup-app",
        ),
        (
            ("identity-migrations", "migrations/users", &[]),
            "identity-migrations in migrations/users/ must be named users-migrations",
        ),
    ];
    for (replacement, expected) in cases {
        let found = violations_with(|crates| {
            let slot = crates
                .iter()
                .position(|c| c.0 == replacement.0)
                .expect("the crate to replace");
            crates[slot] = replacement;
        });
        assert!(
            found.iter().any(|f| f == expected),
            "expected {expected:?} among {found:?}"
        );
    }
    // A data service on another data service, and dev-dependencies that do not count.
    let found = violations_with(|crates| {
        crates.push((
            "billing-data",
            "data-services/billing",
            &[
                ("billing-domain", None),
                ("identity-data", None),
                ("signup-app", Some("dev")),
            ],
        ));
    });
    assert_eq!(
        found,
        ["data service billing-data depends on the data service identity-data"]
    );
}

/// The names in ARCHITECTURE.md that look like files or folders of the tree: a backticked
/// token with a `/` or a file extension, without placeholders (`<ctx>`, `{a,b}`, `*`),
/// URLs, HTTP routes or media types.
fn named_paths(text: &str) -> Vec<&str> {
    const EXTENSIONS: &[&str] = &[
        ".rs", ".proto", ".toml", ".md", ".sh", ".py", ".yaml", ".binpb",
    ];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|token| {
            !token.is_empty()
                && !token.contains(|c: char| c.is_whitespace() || "<>{}*=:\"".contains(c))
                && !token.starts_with('/')
                && !token.starts_with("application/")
                && !token.starts_with("W/")
                && (token.contains('/') || EXTENSIONS.iter().any(|ext| token.ends_with(ext)))
        })
        .collect()
}

/// Every file of the tree (relative, with `/`), skipping build output and version control.
fn tree_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name == ".git" || name == "node_modules" {
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if path.is_dir() {
                files.push(format!("{relative}/"));
                pending.push(path);
            } else {
                files.push(relative);
            }
        }
    }
    files
}

/// The map must be true: every file or folder ARCHITECTURE.md names exists in the tree
/// (as a path from the root, or as the tail of one, for names given inside a crate's section).
#[test]
fn every_path_architecture_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository");
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let files = tree_files(root);
    let missing: Vec<&str> = named_paths(&text)
        .into_iter()
        .filter(|name| {
            let name = name.trim_start_matches("./");
            let dir = format!("{}/", name.trim_end_matches('/'));
            !files.iter().any(|file| {
                file == name
                    || file == &dir
                    || file.ends_with(&format!("/{name}"))
                    || file.ends_with(&format!("/{dir}"))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that are not in the tree: {missing:?}"
    );
}

#[test]
fn the_path_check_reads_names_not_routes() {
    let names = named_paths(
        "`platform/src/store/` and `bus.rs`, not `GET /v1/me`, `<data dir>/mail`, \
         `application/problem+json`, `dns://` or `app-services/{a,b}`",
    );
    assert_eq!(names, ["platform/src/store/", "bus.rs"]);
}

/// The use-case crates: they speak the application's language only.
const USE_CASES: &[&str] = &["access-app", "account-app", "team-app", "plan-app"];

/// What a use case must not reach, not even through another crate: RPC and the published
/// language (only the adapters in `adapters-app` map to and from it).
const WIRE: &[&str] = &["tonic", "prost", "saas-proto"];

/// The crates `root` reaches through normal dependencies (itself excluded), by name, read
/// from the resolve graph of a full `cargo metadata`.
fn reachable(metadata: &Value, root: &str) -> Result<BTreeSet<String>, String> {
    let packages = metadata["packages"].as_array().ok_or("no packages")?;
    let name_of: BTreeMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .ok_or("metadata has no resolve graph")?;
    let normal_deps: BTreeMap<&str, Vec<&str>> = nodes
        .iter()
        .filter_map(|node| {
            let deps = node["deps"]
                .as_array()?
                .iter()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
                })
                .filter_map(|dep| dep["pkg"].as_str())
                .collect();
            Some((node["id"].as_str()?, deps))
        })
        .collect();
    let start = name_of
        .iter()
        .find(|(_, name)| **name == root)
        .map(|(id, _)| *id)
        .ok_or_else(|| format!("{root} is not in the metadata"))?;
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(id) = todo.pop() {
        for dep in normal_deps.get(id).into_iter().flatten() {
            if seen.insert(*dep) {
                todo.push(dep);
            }
        }
    }
    Ok(seen
        .into_iter()
        .filter_map(|id| name_of.get(id).map(|name| (*name).to_owned()))
        .collect())
}

/// Each use-case crate that reaches a wire crate, with the crates it reaches.
fn wire_violations(metadata: &Value) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for use_case in USE_CASES {
        let reached: Vec<String> = reachable(metadata, use_case)?
            .into_iter()
            .filter(|name| in_family(name, WIRE))
            .collect();
        if !reached.is_empty() {
            found.push(format!("{use_case} reaches {}", reached.join(", ")));
        }
    }
    Ok(found)
}

#[test]
fn the_use_cases_do_not_reach_rpc_or_the_published_language() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies in the workspace");
    // The graph of this machine's platform only: every package it needs is downloaded.
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    let version = String::from_utf8_lossy(&rustc.stdout);
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc names its host")
        .to_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(root)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    // The walk really sees the graph: the edge reaches tonic through the adapters.
    let edge = reachable(&metadata, "edge-app").unwrap();
    assert!(
        edge.contains("tonic") && edge.contains("ports-app"),
        "{edge:?}"
    );
    let found = wire_violations(&metadata).unwrap();
    assert!(
        found.is_empty(),
        "use cases reach the wire:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_wire_check_catches_a_use_case_reaching_tonic_through_another_crate() {
    let package = |name: &str| serde_json::json!({"id": format!("{name} 0.1.0"), "name": name});
    let dep = |name: &str, kind: Option<&str>| serde_json::json!({"pkg": format!("{name} 0.1.0"), "dep_kinds": [{"kind": kind}]});
    let names = [
        "access-app",
        "account-app",
        "team-app",
        "plan-app",
        "ports-app",
    ];
    let graph = |ports_deps: Vec<Value>| {
        let mut packages: Vec<Value> = names.iter().map(|n| package(n)).collect();
        packages.extend(["tonic", "tower", "mockall"].map(package));
        let mut nodes: Vec<Value> = names[..4]
            .iter()
            .map(|n| serde_json::json!({"id": format!("{n} 0.1.0"), "deps": [dep("ports-app", None)]}))
            .collect();
        nodes.push(serde_json::json!({"id": "ports-app 0.1.0", "deps": ports_deps}));
        nodes.push(serde_json::json!({"id": "tonic 0.1.0", "deps": [dep("tower", None)]}));
        serde_json::json!({"packages": packages, "resolve": {"nodes": nodes}})
    };
    // A dev-dependency on tonic is tooling, not architecture.
    let lawful = graph(vec![dep("mockall", None), dep("tonic", Some("dev"))]);
    assert_eq!(wire_violations(&lawful).unwrap(), Vec::<String>::new());
    let broken = graph(vec![dep("tonic", None)]);
    let found = wire_violations(&broken).unwrap();
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        found[0].starts_with("access-app reaches tonic"),
        "{found:?}"
    );
}

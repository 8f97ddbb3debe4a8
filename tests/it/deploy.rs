//! The Kubernetes manifests in `deploy/k8s` against the binary they run. `kubectl kustomize`
//! renders each overlay; every variable the manifests set must be one `saas config keys`
//! lists, every port and probe must be one the process serves, selectors must match labels,
//! every Deployment must have a disruption budget, and rolling updates must leave time to drain.
//!
//! Needs `kubectl` on PATH; without it the manifest tests say they skipped, unless
//! `SAAS_TEST_REQUIRE_KUBECTL` is set (as `.ci/run` does), which makes them fail instead.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use saas_tests::{ServerProcess, TestDatabase, saas_binary};
use serde::Deserialize as _;
use serde_json::Value;

/// Every overlay a user may apply.
const OVERLAYS: [&str; 2] = ["production", "production-etcd"];

/// The components `saas serve` runs alone, and for a data service the context it hosts.
const DATA_SERVICES: [&str; 4] = ["identity", "workspace", "billing", "notifications"];
const EDGE: &str = "edge";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the repository")
        .to_path_buf()
}

fn kubectl_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("kubectl").is_file()))
}

/// Every overlay rendered, or `None` (after saying so) when kubectl is missing and not required.
fn rendered() -> Option<Vec<(&'static str, Manifests)>> {
    if !kubectl_on_path() {
        assert!(
            std::env::var_os("SAAS_TEST_REQUIRE_KUBECTL").is_none(),
            "kubectl is not on PATH, and SAAS_TEST_REQUIRE_KUBECTL asks for the manifest tests"
        );
        eprintln!("skipped: kubectl is not on PATH (SAAS_TEST_REQUIRE_KUBECTL makes this fail)");
        return None;
    }
    Some(
        OVERLAYS
            .iter()
            .map(|overlay| (*overlay, Manifests::render(overlay)))
            .collect(),
    )
}

/// The objects of one rendered overlay.
struct Manifests {
    objects: Vec<Value>,
}

impl Manifests {
    fn render(overlay: &str) -> Manifests {
        let dir = repo().join("deploy/k8s/overlays").join(overlay);
        let output = Command::new("kubectl")
            .arg("kustomize")
            .arg(&dir)
            .output()
            .expect("run kubectl");
        assert!(
            output.status.success(),
            "kubectl kustomize {}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("the render is UTF-8");
        let objects: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|document| Value::deserialize(document).expect("the render is YAML"))
            .filter(|object| !object.is_null())
            .collect();
        assert!(!objects.is_empty(), "{overlay} renders nothing");
        Manifests { objects }
    }

    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|object| object["kind"] == kind)
            .collect()
    }

    fn deployments(&self) -> Vec<Deployment<'_>> {
        self.of_kind("Deployment")
            .into_iter()
            .map(|object| Deployment::new(object, self))
            .collect()
    }

    fn config_map(&self, name: &str) -> &Value {
        self.of_kind("ConfigMap")
            .into_iter()
            .find(|map| map["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no ConfigMap {name} in the render"))
    }
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// Written in the Deployment.
    Literal(String),
    /// A key of a ConfigMap (through `envFrom`).
    ConfigMap(String),
    /// A Secret's key.
    Secret,
    /// Another reference (the downward API).
    Other,
}

impl Source {
    fn text(&self) -> Option<&str> {
        match self {
            Source::Literal(text) | Source::ConfigMap(text) => Some(text),
            Source::Secret | Source::Other => None,
        }
    }
}

/// One Deployment with its one container and the environment that container gets.
struct Deployment<'a> {
    name: String,
    object: &'a Value,
    pod: &'a Value,
    container: &'a Value,
    env: BTreeMap<String, Source>,
}

impl<'a> Deployment<'a> {
    fn new(object: &'a Value, manifests: &'a Manifests) -> Deployment<'a> {
        let name = text(&object["metadata"]["name"]).to_owned();
        let pod = &object["spec"]["template"]["spec"];
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{name}: one container per pod");
        let container = &containers[0];
        let mut env = BTreeMap::new();
        for from in container["envFrom"].as_array().into_iter().flatten() {
            let map = text(&from["configMapRef"]["name"]);
            assert!(
                from.get("secretRef").is_none(),
                "{name}: name each secret key"
            );
            let data = manifests.config_map(map)["data"]
                .as_object()
                .expect("ConfigMap data");
            for (key, value) in data {
                env.insert(key.clone(), Source::ConfigMap(text(value).to_owned()));
            }
        }
        for variable in container["env"].as_array().into_iter().flatten() {
            let key = text(&variable["name"]).to_owned();
            let source = if let Some(value) = variable.get("value") {
                Source::Literal(text(value).to_owned())
            } else if variable["valueFrom"].get("secretKeyRef").is_some() {
                Source::Secret
            } else {
                Source::Other
            };
            env.insert(key, source);
        }
        Deployment {
            name,
            object,
            pod,
            container,
            env,
        }
    }

    /// The component `saas serve` runs here.
    fn component(&self) -> &str {
        let args: Vec<&str> = self.container["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(text)
            .collect();
        match args.as_slice() {
            ["serve", component] => component,
            other => panic!("{}: runs {other:?}, not `serve <component>`", self.name),
        }
    }

    fn pod_labels(&self) -> BTreeMap<String, String> {
        labels(&self.object["spec"]["template"]["metadata"]["labels"])
    }

    fn value(&self, key: &str) -> &str {
        self.env
            .get(key)
            .and_then(Source::text)
            .unwrap_or_else(|| panic!("{}: {key} is not set to a value", self.name))
    }

    /// The address a `SAAS_*_ADDR` variable binds, which must be every interface.
    fn listen_port(&self, key: &str) -> u16 {
        let addr: SocketAddr = self
            .value(key)
            .parse()
            .unwrap_or_else(|e| panic!("{}: {key}: {e}", self.name));
        assert!(
            addr.ip().is_unspecified(),
            "{}: {key} must listen on every interface for probes and peers, not {addr}",
            self.name
        );
        addr.port()
    }

    /// The container ports by name.
    fn ports(&self) -> BTreeMap<String, u16> {
        self.container["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|port| {
                (
                    text(&port["name"]).to_owned(),
                    number(&port["containerPort"]),
                )
            })
            .collect()
    }

    /// A port given by number or by the name of a container port.
    fn resolve_port(&self, port: &Value) -> u16 {
        match port {
            Value::String(name) => *self
                .ports()
                .get(name)
                .unwrap_or_else(|| panic!("{}: no container port named {name}", self.name)),
            other => number(other),
        }
    }

    fn probes(&self) -> Vec<(&'static str, &Value)> {
        ["startupProbe", "readinessProbe", "livenessProbe"]
            .into_iter()
            .filter_map(|kind| self.container.get(kind).map(|probe| (kind, probe)))
            .collect()
    }

    /// Where the volume a path lies in is mounted, and the volume.
    fn mount_of(&self, path: &str) -> (&Value, &Value) {
        let mount = self.container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|mount| {
                let at = text(&mount["mountPath"]);
                path == at || path.starts_with(&format!("{}/", at.trim_end_matches('/')))
            })
            .max_by_key(|mount| text(&mount["mountPath"]).len())
            .unwrap_or_else(|| panic!("{}: {path} is on no mounted volume", self.name));
        let volume = self.pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|volume| volume["name"] == mount["name"])
            .unwrap_or_else(|| panic!("{}: no volume {}", self.name, mount["name"]));
        (mount, volume)
    }
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not text"))
}

fn number(value: &Value) -> u16 {
    value
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or_else(|| panic!("{value} is not a port number"))
}

fn labels(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(key, value)| (key.clone(), text(value).to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a label selector (`matchLabels` only: the manifests use no expressions) selects
/// pods with these labels.
fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(key, value)| pod.get(key) == Some(value))
}

fn match_labels(selector: &Value, what: &str) -> BTreeMap<String, String> {
    assert!(
        selector.get("matchExpressions").is_none(),
        "{what}: use matchLabels"
    );
    labels(&selector["matchLabels"])
}

/// The one Deployment whose pods a selector picks.
fn selected<'d, 'a>(
    deployments: &'d [Deployment<'a>],
    selector: &BTreeMap<String, String>,
    what: &str,
) -> &'d Deployment<'a> {
    let picked: Vec<&Deployment> = deployments
        .iter()
        .filter(|deployment| selects(selector, &deployment.pod_labels()))
        .collect();
    match picked.as_slice() {
        [one] => one,
        other => panic!(
            "{what} selects the pods of {} Deployments ({:?}), not one",
            other.len(),
            other.iter().map(|d| &d.name).collect::<Vec<_>>()
        ),
    }
}

/// `saas config keys`.
fn binary_keys() -> BTreeSet<String> {
    let output = Command::new(saas_binary())
        .args(["config", "keys"])
        .output()
        .expect("run saas config keys");
    assert!(output.status.success(), "saas config keys: {output:?}");
    let keys: BTreeSet<String> = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(keys.contains("SAAS_GRPC_ADDR"), "{keys:?}");
    keys
}

#[test]
fn manifests_set_only_variables_the_binary_reads() {
    let Some(overlays) = rendered() else { return };
    let keys = binary_keys();
    for (overlay, manifests) in &overlays {
        for deployment in manifests.deployments() {
            let referenced: BTreeSet<String> = deployment
                .env
                .values()
                .filter_map(Source::text)
                .flat_map(|value| value.split("$(").skip(1))
                .filter_map(|rest| rest.split_once(')').map(|(name, _)| name.to_owned()))
                .collect();
            for (name, source) in &deployment.env {
                let what = format!("{overlay}/{}: {name}", deployment.name);
                if !name.starts_with("SAAS_") {
                    assert!(
                        referenced.contains(name),
                        "{what} is neither read by saas nor used by another variable"
                    );
                    continue;
                }
                assert!(
                    keys.contains(name),
                    "{what} ({source:?}) is not read by saas; it reads {keys:?}"
                );
            }
        }
    }
}

#[test]
fn every_process_gets_the_settings_it_needs() {
    let Some(overlays) = rendered() else { return };
    for (overlay, manifests) in &overlays {
        let deployments = manifests.deployments();
        let components: BTreeSet<&str> = deployments.iter().map(Deployment::component).collect();
        let expected: BTreeSet<&str> = DATA_SERVICES.into_iter().chain([EDGE]).collect();
        assert_eq!(components, expected, "{overlay}: one Deployment each");
        for config in manifests.of_kind("ConfigMap") {
            for key in config["data"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                assert!(
                    !key.contains("DATABASE_URL") && !key.contains("TOKEN"),
                    "{overlay}: {key} belongs in a Secret, not a ConfigMap"
                );
            }
        }
        for deployment in &deployments {
            let what = format!("{overlay}/{}", deployment.name);
            let component = deployment.component();
            let mut secrets = vec!["SAAS_SERVICE_TOKEN".to_owned()];
            if component != EDGE {
                secrets.push(format!(
                    "SAAS_{}_DATABASE_URL",
                    component.to_ascii_uppercase()
                ));
            }
            for secret in &secrets {
                assert_eq!(
                    deployment.env.get(secret),
                    Some(&Source::Secret),
                    "{what}: {secret} must come from a Secret"
                );
            }
            // Events cross processes only through NATS in the split topology.
            assert!(
                deployment.value("SAAS_NATS_URL").starts_with("nats://"),
                "{what}"
            );
            // Whatever a process writes goes to a writable volume, not the read-only root.
            let (mount, volume) = deployment.mount_of(deployment.value("SAAS_DATA_DIR"));
            assert!(
                mount.get("readOnly") != Some(&Value::Bool(true))
                    && volume.get("emptyDir").is_some(),
                "{what}: SAAS_DATA_DIR must be a writable emptyDir"
            );
            if component == EDGE {
                // Replicas share one signing key, from a Secret mounted as a file.
                let key_file = deployment.value("SAAS_JWT_KEY_FILE");
                let (mount, volume) = deployment.mount_of(key_file);
                let inside = key_file
                    .strip_prefix(text(&mount["mountPath"]))
                    .map(|rest| rest.trim_start_matches('/'))
                    .unwrap_or_default();
                let items: Vec<&str> = volume["secret"]["items"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{what}: the JWT key must be a Secret volume"))
                    .iter()
                    .map(|item| text(&item["path"]))
                    .collect();
                assert!(
                    items.contains(&inside),
                    "{what}: {key_file} is not {items:?}"
                );
                // Replicas share rate-limit counts.
                let redis = deployment.value("SAAS_REDIS_URL");
                assert!(
                    redis.starts_with("redis://") || redis.starts_with("rediss://"),
                    "{what}: SAAS_REDIS_URL={redis}"
                );
                for context in DATA_SERVICES {
                    check_peer(manifests, &deployments, deployment, context, &what);
                }
            }
        }
    }
}

/// The edge finds a data service either through etcd or through a URL that names a Service
/// selecting exactly that service's pods on its gRPC port.
fn check_peer(
    manifests: &Manifests,
    deployments: &[Deployment],
    edge: &Deployment,
    context: &str,
    what: &str,
) {
    let key = format!("SAAS_{}_URL", context.to_ascii_uppercase());
    let Some(url) = edge.env.get(&key).and_then(Source::text) else {
        assert!(
            edge.env.contains_key("SAAS_ETCD_URL"),
            "{what}: neither {key} nor SAAS_ETCD_URL"
        );
        return;
    };
    // One URL, or a comma-separated list of them.
    for target in url.split(',') {
        let (scheme, rest) = target
            .trim()
            .split_once("://")
            .unwrap_or_else(|| panic!("{what}: {key}={url} has no scheme"));
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{what}: {key}={url} has no port"));
        let port: u16 = port.parse().expect("port");
        let name = host.split('.').next().unwrap_or_default();
        let service = manifests
            .of_kind("Service")
            .into_iter()
            .find(|service| service["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{what}: {key} names {host}, which is no Service"));
        if scheme == "dns" {
            assert_eq!(
                service["spec"]["clusterIP"], "None",
                "{what}: {key} resolves {name}, which must be headless to list every replica"
            );
        }
        let selector = labels(&service["spec"]["selector"]);
        let serving = selected(deployments, &selector, &format!("Service {name}"));
        assert_eq!(
            serving.component(),
            context,
            "{what}: {key} reaches {}",
            serving.name
        );
        let service_port = service["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .find(|p| number(&p["port"]) == port)
            .unwrap_or_else(|| panic!("{what}: Service {name} has no port {port}"));
        assert_eq!(
            serving.resolve_port(&service_port["targetPort"]),
            serving.listen_port("SAAS_GRPC_ADDR"),
            "{what}: {key} does not reach the gRPC port"
        );
    }
}

#[test]
fn ports_and_probes_are_the_ones_the_processes_serve() {
    let Some(overlays) = rendered() else { return };
    let open_gets: BTreeSet<String> = edge_app::routes()
        .into_iter()
        .filter(|route| route.method.as_str() == "GET" && route.guard == edge_app::Guard::Open)
        .map(|route| route.path)
        .collect();
    for (overlay, manifests) in &overlays {
        for deployment in manifests.deployments() {
            let what = format!("{overlay}/{}", deployment.name);
            let ports = deployment.ports();
            if deployment.component() == EDGE {
                // The edge alone serves HTTP only.
                let http = deployment.listen_port("SAAS_HTTP_ADDR");
                assert_eq!(ports, BTreeMap::from([("http".to_owned(), http)]), "{what}");
                for (kind, probe) in deployment.probes() {
                    let get = probe
                        .get("httpGet")
                        .unwrap_or_else(|| panic!("{what}: {kind} must be httpGet"));
                    assert_eq!(
                        deployment.resolve_port(&get["port"]),
                        http,
                        "{what}: {kind}"
                    );
                    let path = text(&get["path"]);
                    assert!(
                        open_gets.contains(path),
                        "{what}: {kind} asks for {path}, which the edge does not serve openly"
                    );
                    let expected = if kind == "readinessProbe" {
                        "/readyz"
                    } else {
                        "/healthz"
                    };
                    // Liveness must not follow the data services: an outage is no reason to restart.
                    assert_eq!(path, expected, "{what}: {kind}");
                }
            } else {
                let grpc = deployment.listen_port("SAAS_GRPC_ADDR");
                assert_eq!(ports, BTreeMap::from([("grpc".to_owned(), grpc)]), "{what}");
                for (kind, probe) in deployment.probes() {
                    let check = probe
                        .get("grpc")
                        .unwrap_or_else(|| panic!("{what}: {kind} must be a gRPC probe"));
                    assert_eq!(number(&check["port"]), grpc, "{what}: {kind}");
                    // The probe asks for the whole server ("") unless it names a service.
                    assert!(
                        check.get("service").is_none_or(|s| s == ""),
                        "{what}: {kind} must ask for the server's status"
                    );
                }
            }
            let kinds: BTreeSet<&str> = deployment.probes().into_iter().map(|(k, _)| k).collect();
            assert!(
                kinds.contains("readinessProbe") && kinds.contains("livenessProbe"),
                "{what}: readiness and liveness probes"
            );
        }
    }
}

#[tokio::test]
async fn a_data_service_process_answers_the_grpc_probe() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let database = TestDatabase::fresh().await;
    let process = ServerProcess::start("identity", &database.url).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", process.addr))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect");
    // Kubernetes' gRPC probe sends no credential and, with no `service` set, asks for "".
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(answer.status, ServingStatus::Serving as i32);
}

#[test]
fn selectors_match_labels_and_every_deployment_has_a_budget() {
    let Some(overlays) = rendered() else { return };
    for (overlay, manifests) in &overlays {
        let deployments = manifests.deployments();
        for deployment in &deployments {
            let what = format!("{overlay}/{}", deployment.name);
            let selector = match_labels(&deployment.object["spec"]["selector"], &what);
            // Its own pods and no other Deployment's.
            assert_eq!(
                selected(&deployments, &selector, &what).name,
                deployment.name,
                "{what}"
            );
            for spread in deployment.pod["topologySpreadConstraints"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let spread = match_labels(&spread["labelSelector"], &what);
                assert_eq!(selected(&deployments, &spread, &what).name, deployment.name);
            }
        }
        for service in manifests.of_kind("Service") {
            let what = format!("{overlay}: Service {}", service["metadata"]["name"]);
            let serving = selected(&deployments, &labels(&service["spec"]["selector"]), &what);
            for port in service["spec"]["ports"].as_array().expect("ports") {
                let target = serving.resolve_port(&port["targetPort"]);
                assert!(
                    serving.ports().values().any(|p| *p == target),
                    "{what}: port {target} is served by no container of {}",
                    serving.name
                );
            }
        }
        let mut budgets: BTreeMap<String, usize> = BTreeMap::new();
        for budget in manifests.of_kind("PodDisruptionBudget") {
            let what = format!(
                "{overlay}: PodDisruptionBudget {}",
                budget["metadata"]["name"]
            );
            let covered = selected(
                &deployments,
                &match_labels(&budget["spec"]["selector"], &what),
                &what,
            );
            *budgets.entry(covered.name.clone()).or_default() += 1;
            // A drain must be able to evict one replica even when there is only one.
            assert_eq!(budget["spec"]["maxUnavailable"], 1, "{what}");
        }
        for deployment in &deployments {
            assert_eq!(
                budgets.get(&deployment.name),
                Some(&1),
                "{overlay}/{}: one PodDisruptionBudget",
                deployment.name
            );
        }
    }
}

#[test]
fn rolling_updates_leave_time_to_drain() {
    let Some(overlays) = rendered() else { return };
    // The longest a request may take at the edge; data service calls carry shorter deadlines.
    let drain = edge_app::EdgeConfig::DEFAULT_REQUEST_TIMEOUT;
    for (overlay, manifests) in &overlays {
        for deployment in manifests.deployments() {
            let what = format!("{overlay}/{}", deployment.name);
            let strategy = &deployment.object["spec"]["strategy"];
            assert_eq!(strategy["type"], "RollingUpdate", "{what}");
            assert_eq!(strategy["rollingUpdate"]["maxUnavailable"], 0, "{what}");
            let sleep = deployment.container["lifecycle"]["preStop"]["sleep"]["seconds"]
                .as_u64()
                .unwrap_or(0);
            let grace = deployment.pod["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30);
            assert!(
                Duration::from_secs(grace) > Duration::from_secs(sleep) + drain,
                "{what}: {grace} s of grace for {sleep} s of preStop and {drain:?} of draining"
            );
        }
    }
}

#[test]
fn pods_run_unprivileged_within_their_resources() {
    let Some(overlays) = rendered() else { return };
    for (overlay, manifests) in &overlays {
        for deployment in manifests.deployments() {
            let what = format!("{overlay}/{}", deployment.name);
            let pod = deployment.pod;
            let container = &deployment.container["securityContext"];
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}");
            assert_eq!(pod["automountServiceAccountToken"], false, "{what}");
            // Services would otherwise inject <NAME>_SERVICE_HOST variables, SAAS_* among them
            // for a Service named saas.
            assert_eq!(pod["enableServiceLinks"], false, "{what}");
            assert_eq!(container["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(container["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(
                container["capabilities"]["drop"],
                serde_json::json!(["ALL"])
            );
            let resources = &deployment.container["resources"];
            for resource in ["cpu", "memory"] {
                let request = quantity(&resources["requests"][resource], &what);
                let limit = quantity(&resources["limits"][resource], &what);
                assert!(
                    0.0 < request && request <= limit,
                    "{what}: {resource} request {request} within limit {limit}"
                );
            }
        }
    }
}

/// A Kubernetes quantity (`250m`, `2`, `512Mi`, `1Gi`) as a number.
fn quantity(value: &Value, what: &str) -> f64 {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{what}: {other} is not a quantity"),
    };
    let (digits, factor) = [
        ("m", 1e-3),
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
    ]
    .into_iter()
    .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|d| (d, factor)))
    .unwrap_or((text.as_str(), 1.0));
    digits
        .parse::<f64>()
        .map(|n| n * factor)
        .unwrap_or_else(|_| panic!("{what}: {text} is not a quantity"))
}

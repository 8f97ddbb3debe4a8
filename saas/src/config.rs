//! Configuration: `SAAS_*` environment variables over an optional TOML file.

use std::{net::SocketAddr, path::PathBuf};

use platform::discovery::PeerSource;
use serde::Deserialize;

/// Everything the launcher reads. Each field is `SAAS_<FIELD>` in the environment, or
/// `<field> = ...` in the TOML file; the environment wins.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub grpc_addr: Option<String>,
    pub identity_database_url: Option<String>,
    pub workspace_database_url: Option<String>,
    pub billing_database_url: Option<String>,
    pub notifications_database_url: Option<String>,
    pub service_token: Option<String>,
    pub argon2: Option<String>,
    pub concurrency_limit: Option<usize>,
    pub database_pool: Option<u32>,
    pub sweep_interval_secs: Option<u64>,
    pub sign_up_window_secs: Option<u64>,
    pub http_addr: Option<String>,
    pub identity_url: Option<String>,
    pub workspace_url: Option<String>,
    pub billing_url: Option<String>,
    pub notifications_url: Option<String>,
    pub jwt_key_file: Option<PathBuf>,
    pub rate_limits: Option<String>,
    pub redis_url: Option<String>,
    pub smtp_url: Option<String>,
    pub cors_origins: Option<String>,
    pub nats_url: Option<String>,
    pub bus: Option<String>,
    pub etcd_url: Option<String>,
    pub advertise_addr: Option<String>,
    pub etcd_lease_ttl_secs: Option<u64>,
    pub dns_refresh_secs: Option<u64>,
    pub calls: Option<String>,
}

/// The configuration after merging and validation.
#[derive(Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub grpc_addr: SocketAddr,
    pub identity_database_url: Option<String>,
    pub workspace_database_url: Option<String>,
    pub billing_database_url: Option<String>,
    pub notifications_database_url: Option<String>,
    pub service_token: Option<String>,
    pub argon2: identity_data::Argon2Params,
    pub concurrency_limit: usize,
    /// Connections each context's database pool may open in this process.
    pub database_pool: u32,
    pub sweep_interval: std::time::Duration,
    /// How long a sign-up has to complete before it is undone (kept by Identity).
    pub sign_up_window: std::time::Duration,
    pub http_addr: SocketAddr,
    pub identity_url: Option<PeerSource>,
    pub workspace_url: Option<PeerSource>,
    pub billing_url: Option<PeerSource>,
    pub notifications_url: Option<PeerSource>,
    pub jwt_key_file: Option<PathBuf>,
    /// `None` when rate limits are off.
    pub rate_limits: Option<edge_app::rate_limit::RateLimits>,
    pub redis_url: Option<String>,
    pub smtp_url: Option<String>,
    pub cors_origins: Vec<String>,
    pub nats_url: Option<String>,
    /// Which bus was asked for by `SAAS_BUS`, if any.
    pub bus: Option<BusKind>,
    /// The etcd cluster services register in and callers find them through.
    pub etcd_url: Option<String>,
    /// The `host:port` peers dial to reach this process's gRPC port.
    pub advertise_addr: Option<String>,
    /// The TTL of a registration's lease.
    pub etcd_lease_ttl: std::time::Duration,
    /// How often `dns://` peers are resolved again.
    pub dns_refresh: std::time::Duration,
    /// Deadlines, retries, hedges, limits and ejection of calls between services.
    pub calls: adapters_app::grpc::CallSettings,
}

/// The event bus `SAAS_BUS` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    /// NATS JetStream at `SAAS_NATS_URL`: events cross processes.
    Nats,
    /// The in-process bus in `<data dir>/bus.db`: events stay in this process.
    Local,
}

/// A configuration problem, reported as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// The variable naming the TOML file (read by the command line parser).
pub const CONFIG_FILE_VAR: &str = "SAAS_CONFIG";
/// The log filter (read before the configuration is).
pub const LOG_VAR: &str = "SAAS_LOG";

/// Every environment variable the launcher reads, sorted: `SAAS_<FIELD>` for each field of
/// [`FileConfig`] (the one list of settings), [`CONFIG_FILE_VAR`] and [`LOG_VAR`]. `saas
/// config keys` prints it, so that deployment manifests can be checked against the binary.
pub fn keys() -> Vec<String> {
    let mut keys: Vec<String> = file_fields()
        .iter()
        .map(|field| format!("SAAS_{}", field.to_ascii_uppercase()))
        .chain([CONFIG_FILE_VAR, LOG_VAR].map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// The field names of [`FileConfig`] as serde's derive hands them to a deserializer: a
/// deserializer that stops at `deserialize_struct` and keeps the names. (Not a dependency
/// for these few lines: no crate offers only this.)
fn file_fields() -> &'static [&'static str] {
    use serde::de::Visitor;

    #[derive(Debug)]
    struct Stop(Option<&'static [&'static str]>);
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names taken")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Stop(None)
        }
    }

    struct Fields;
    impl<'de> serde::Deserializer<'de> for Fields {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop(None))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            Err(Stop(Some(fields)))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    match FileConfig::deserialize(Fields) {
        Err(Stop(Some(fields))) => fields,
        _ => &[],
    }
}

/// A setting that must be a positive number: from the environment's `text` (named
/// `env_name`) or else the file's value (named `file_name`); `None` when neither sets it.
/// `unit` ends the message (" of seconds").
fn positive<T: std::str::FromStr + PartialOrd + Default>(
    env_name: &'static str,
    text: Option<String>,
    file_name: &'static str,
    from_file: Option<T>,
    unit: &str,
) -> Result<Option<T>, ConfigError> {
    match text {
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| *n > T::default())
            .map(Some)
            .ok_or(ConfigError::Invalid {
                name: env_name,
                message: format!("{text:?} is not a positive number{unit}"),
            }),
        None => match from_file {
            Some(n) if n <= T::default() => Err(ConfigError::Invalid {
                name: file_name,
                message: format!("must be a positive number{unit}"),
            }),
            n => Ok(n),
        },
    }
}

fn env(name: &str) -> Option<String> {
    #[cfg(test)]
    tests::READ.with(|read| read.borrow_mut().insert(name.to_owned()));
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A positive number of seconds from `name` in the environment, else the file, else `default`.
fn seconds(
    name: &'static str,
    from_file: Option<u64>,
    default: u64,
) -> Result<std::time::Duration, ConfigError> {
    let secs = match env(name) {
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(ConfigError::Invalid {
                name,
                message: format!("{text:?} is not a positive number of seconds"),
            })?,
        None => match from_file {
            Some(0) => {
                return Err(ConfigError::Invalid {
                    name,
                    message: "must be a positive number of seconds".into(),
                });
            }
            Some(n) => n,
            None => default,
        },
    };
    Ok(std::time::Duration::from_secs(secs))
}

impl Config {
    /// Reads the file (if any), then the environment, then the command line's data dir.
    pub fn load(file: Option<&PathBuf>, data_dir: Option<PathBuf>) -> Result<Config, ConfigError> {
        let from_file = match file {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.message().to_owned(),
                })?
            }
        };
        let data_dir = data_dir
            .or_else(|| env("SAAS_DATA_DIR").map(PathBuf::from))
            .or(from_file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let grpc_addr = env("SAAS_GRPC_ADDR")
            .or(from_file.grpc_addr)
            .unwrap_or_else(|| "127.0.0.1:50051".to_owned());
        let grpc_addr = grpc_addr.parse().map_err(|_| ConfigError::Invalid {
            name: "SAAS_GRPC_ADDR",
            message: format!("{grpc_addr:?} is not a socket address like 127.0.0.1:50051"),
        })?;
        let argon2 = match env("SAAS_ARGON2").or(from_file.argon2) {
            None => identity_data::Argon2Params::OWASP,
            Some(text) => {
                identity_data::Argon2Params::parse(&text).map_err(|e| ConfigError::Invalid {
                    name: "SAAS_ARGON2",
                    message: e.to_string(),
                })?
            }
        };
        let concurrency_limit = positive(
            "SAAS_CONCURRENCY_LIMIT",
            env("SAAS_CONCURRENCY_LIMIT"),
            "concurrency_limit",
            from_file.concurrency_limit,
            "",
        )?
        .unwrap_or(platform::server::ServerConfig::DEFAULT_CONCURRENCY_LIMIT);
        let database_pool = positive(
            "SAAS_DATABASE_POOL",
            env("SAAS_DATABASE_POOL"),
            "database_pool",
            from_file.database_pool,
            " of connections",
        )?
        .unwrap_or(platform::db::PoolSize::default().max);
        let sweep_interval_secs = positive(
            "SAAS_SWEEP_INTERVAL_SECS",
            env("SAAS_SWEEP_INTERVAL_SECS"),
            "sweep_interval_secs",
            from_file.sweep_interval_secs,
            " of seconds",
        )?
        .unwrap_or(30);
        let sign_up_window_secs = match env("SAAS_SIGN_UP_WINDOW_SECS") {
            Some(text) => Some((text.parse::<u64>().ok(), "SAAS_SIGN_UP_WINDOW_SECS", text)),
            None => from_file
                .sign_up_window_secs
                .map(|n| (Some(n), "sign_up_window_secs", n.to_string())),
        };
        let sign_up_window = match sign_up_window_secs {
            None => access_app::SIGN_UP_WINDOW,
            Some((Some(n), _, _))
                if (1..=access_app::MAX_SIGN_UP_WINDOW.as_secs()).contains(&n) =>
            {
                std::time::Duration::from_secs(n)
            }
            Some((_, name, text)) => {
                return Err(ConfigError::Invalid {
                    name,
                    message: format!(
                        "{text:?} is not a number of seconds from 1 to {}",
                        access_app::MAX_SIGN_UP_WINDOW.as_secs()
                    ),
                });
            }
        };
        let http_addr = env("SAAS_HTTP_ADDR")
            .or(from_file.http_addr)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let http_addr = http_addr.parse().map_err(|_| ConfigError::Invalid {
            name: "SAAS_HTTP_ADDR",
            message: format!("{http_addr:?} is not a socket address like 127.0.0.1:8080"),
        })?;
        let rate_limits = edge_app::rate_limit::RateLimits::parse(
            &env("SAAS_RATE_LIMITS")
                .or(from_file.rate_limits)
                .unwrap_or_default(),
        )
        .map_err(|message| ConfigError::Invalid {
            name: "SAAS_RATE_LIMITS",
            message,
        })?;
        let url = |name: &'static str,
                   value: Option<String>|
         -> Result<Option<PeerSource>, ConfigError> {
            value
                .map(|v| {
                    PeerSource::parse(&v).map_err(|message| ConfigError::Invalid { name, message })
                })
                .transpose()
        };
        let etcd_url = env("SAAS_ETCD_URL").or(from_file.etcd_url);
        if let Some(urls) = &etcd_url {
            platform::discovery::etcd::Etcd::validate(urls).map_err(|message| {
                ConfigError::Invalid {
                    name: "SAAS_ETCD_URL",
                    message,
                }
            })?;
        }
        let advertise_addr = env("SAAS_ADVERTISE_ADDR").or(from_file.advertise_addr);
        if let Some(addr) = &advertise_addr {
            let valid = addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            }) && !addr.contains('/');
            if !valid {
                return Err(ConfigError::Invalid {
                    name: "SAAS_ADVERTISE_ADDR",
                    message: format!("{addr:?} is not host:port like 10.0.0.7:50051"),
                });
            }
        }
        let etcd_lease_ttl = seconds(
            "SAAS_ETCD_LEASE_TTL_SECS",
            from_file.etcd_lease_ttl_secs,
            platform::discovery::registration::DEFAULT_TTL.as_secs(),
        )?;
        let dns_refresh = seconds(
            "SAAS_DNS_REFRESH_SECS",
            from_file.dns_refresh_secs,
            platform::discovery::DEFAULT_DNS_REFRESH.as_secs(),
        )?;
        let calls = adapters_app::grpc::CallSettings::parse(
            &env("SAAS_CALLS").or(from_file.calls).unwrap_or_default(),
        )
        .map_err(|message| ConfigError::Invalid {
            name: "SAAS_CALLS",
            message,
        })?;
        let nats_url = env("SAAS_NATS_URL").or(from_file.nats_url);
        let bus = match env("SAAS_BUS").or(from_file.bus).as_deref() {
            None => None,
            Some("nats") if nats_url.is_none() => {
                return Err(ConfigError::Invalid {
                    name: "SAAS_BUS",
                    message: "nats needs SAAS_NATS_URL".to_owned(),
                });
            }
            Some("nats") => Some(BusKind::Nats),
            Some("local") if nats_url.is_some() => {
                return Err(ConfigError::Invalid {
                    name: "SAAS_BUS",
                    message: "local contradicts SAAS_NATS_URL: set one of them".to_owned(),
                });
            }
            Some("local") => Some(BusKind::Local),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "SAAS_BUS",
                    message: format!("{other:?} is neither nats nor local"),
                });
            }
        };
        let cors_origins = env("SAAS_CORS_ORIGINS")
            .or(from_file.cors_origins)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Config {
            http_addr,
            identity_url: url(
                "SAAS_IDENTITY_URL",
                env("SAAS_IDENTITY_URL").or(from_file.identity_url),
            )?,
            workspace_url: url(
                "SAAS_WORKSPACE_URL",
                env("SAAS_WORKSPACE_URL").or(from_file.workspace_url),
            )?,
            billing_url: url(
                "SAAS_BILLING_URL",
                env("SAAS_BILLING_URL").or(from_file.billing_url),
            )?,
            notifications_url: url(
                "SAAS_NOTIFICATIONS_URL",
                env("SAAS_NOTIFICATIONS_URL").or(from_file.notifications_url),
            )?,
            jwt_key_file: env("SAAS_JWT_KEY_FILE")
                .map(PathBuf::from)
                .or(from_file.jwt_key_file),
            rate_limits,
            redis_url: env("SAAS_REDIS_URL").or(from_file.redis_url),
            smtp_url: env("SAAS_SMTP_URL").or(from_file.smtp_url),
            cors_origins,
            nats_url,
            bus,
            etcd_url,
            advertise_addr,
            etcd_lease_ttl,
            dns_refresh,
            calls,
            data_dir,
            grpc_addr,
            identity_database_url: env("SAAS_IDENTITY_DATABASE_URL")
                .or(from_file.identity_database_url),
            workspace_database_url: env("SAAS_WORKSPACE_DATABASE_URL")
                .or(from_file.workspace_database_url),
            billing_database_url: env("SAAS_BILLING_DATABASE_URL")
                .or(from_file.billing_database_url),
            notifications_database_url: env("SAAS_NOTIFICATIONS_DATABASE_URL")
                .or(from_file.notifications_database_url),
            service_token: env("SAAS_SERVICE_TOKEN").or(from_file.service_token),
            argon2,
            concurrency_limit,
            database_pool,
            sweep_interval: std::time::Duration::from_secs(sweep_interval_secs),
            sign_up_window,
        })
    }

    /// The database URL of a context: configured, or a SQLite file in the data directory.
    pub fn database_url(&self, configured: &Option<String>, context: &str) -> String {
        configured.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join(format!("{context}.db")).display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, collections::BTreeSet};

    use super::*;

    thread_local! {
        /// The variables `env` was asked for on this thread.
        pub static READ: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    }

    #[test]
    fn the_keys_are_exactly_the_variables_the_launcher_reads() {
        READ.with(|read| read.borrow_mut().clear());
        // Whatever the environment holds, every variable is looked at (valid or not).
        let _ = Config::load(None, None);
        let mut read: BTreeSet<String> = READ.with(|read| read.borrow().clone());
        // Read outside `Config::load`: by the command line parser and the log setup.
        read.extend([CONFIG_FILE_VAR, LOG_VAR].map(str::to_owned));
        let keys: BTreeSet<String> = keys().into_iter().collect();
        assert_eq!(keys, read);
    }

    #[test]
    fn the_keys_come_from_the_config_struct() {
        let keys = keys();
        assert!(keys.len() > 2, "{keys:?}");
        for key in [
            "SAAS_GRPC_ADDR",
            "SAAS_HTTP_ADDR",
            "SAAS_IDENTITY_DATABASE_URL",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    }
}

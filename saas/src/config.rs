//! Configuration: `SAAS_*` environment variables over an optional TOML file.

use std::{net::SocketAddr, path::PathBuf};

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
    pub service_token: Option<String>,
    pub argon2: Option<String>,
    pub concurrency_limit: Option<usize>,
    pub sweep_interval_secs: Option<u64>,
}

/// The configuration after merging and validation.
#[derive(Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub grpc_addr: SocketAddr,
    pub identity_database_url: Option<String>,
    pub workspace_database_url: Option<String>,
    pub billing_database_url: Option<String>,
    pub service_token: Option<String>,
    pub argon2: identity_data::Argon2Params,
    pub concurrency_limit: usize,
    pub sweep_interval: std::time::Duration,
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

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
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
        let concurrency_limit = match env("SAAS_CONCURRENCY_LIMIT") {
            Some(text) => text
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid {
                    name: "SAAS_CONCURRENCY_LIMIT",
                    message: format!("{text:?} is not a positive number"),
                })?,
            None => match from_file.concurrency_limit {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        name: "concurrency_limit",
                        message: "must be a positive number".into(),
                    });
                }
                Some(n) => n,
                None => platform::server::ServerConfig::DEFAULT_CONCURRENCY_LIMIT,
            },
        };
        let sweep_interval_secs = match env("SAAS_SWEEP_INTERVAL_SECS") {
            Some(text) => text
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid {
                    name: "SAAS_SWEEP_INTERVAL_SECS",
                    message: format!("{text:?} is not a positive number of seconds"),
                })?,
            None => match from_file.sweep_interval_secs {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        name: "sweep_interval_secs",
                        message: "must be a positive number of seconds".into(),
                    });
                }
                Some(n) => n,
                None => 30,
            },
        };
        Ok(Config {
            data_dir,
            grpc_addr,
            identity_database_url: env("SAAS_IDENTITY_DATABASE_URL")
                .or(from_file.identity_database_url),
            workspace_database_url: env("SAAS_WORKSPACE_DATABASE_URL")
                .or(from_file.workspace_database_url),
            billing_database_url: env("SAAS_BILLING_DATABASE_URL")
                .or(from_file.billing_database_url),
            service_token: env("SAAS_SERVICE_TOKEN").or(from_file.service_token),
            argon2,
            concurrency_limit,
            sweep_interval: std::time::Duration::from_secs(sweep_interval_secs),
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

//! Which event bus this process uses: NATS JetStream when `SAAS_NATS_URL` is set, otherwise
//! the in-process durable bus in `<data dir>/bus.db`.

use std::sync::Arc;

use platform::bus::{DeadLetters, Publisher, Subscriber, local::LocalBus, nats::NatsBus};

use crate::config::Config;

/// The bus, by the roles this process needs.
pub struct Bus {
    pub publisher: Arc<dyn Publisher>,
    pub subscriber: Arc<dyn Subscriber>,
    pub dead_letters: Arc<dyn DeadLetters>,
}

/// Opens the configured bus.
pub async fn open(config: &Config) -> Result<Bus, String> {
    match &config.nats_url {
        Some(url) => {
            let bus = Arc::new(
                NatsBus::connect(url)
                    .await
                    .map_err(|e| format!("SAAS_NATS_URL {url}: {e}"))?,
            );
            Ok(Bus {
                publisher: bus.clone(),
                subscriber: bus.clone(),
                dead_letters: bus,
            })
        }
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
            let path = config.data_dir.join("bus.db");
            let bus = LocalBus::open(&path)
                .await
                .map_err(|e| format!("event bus {}: {e}", path.display()))?;
            bus.spawn_purge();
            let bus = Arc::new(bus);
            Ok(Bus {
                publisher: bus.clone(),
                subscriber: bus.clone(),
                dead_letters: bus,
            })
        }
    }
}

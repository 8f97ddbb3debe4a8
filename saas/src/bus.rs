//! Which event bus this process uses: NATS JetStream when `SAAS_NATS_URL` is set, otherwise
//! the in-process durable bus in `<data dir>/bus.db`. A process of the split topology (one
//! that does not run every component) refuses the in-process bus unless `SAAS_BUS=local`
//! asks for it: its events would reach no other process.

use std::sync::Arc;

use platform::bus::{DeadLetters, Publisher, Subscriber, local::LocalBus, nats::NatsBus};

use crate::config::{BusKind, Config};

/// The bus, by the roles this process needs.
pub struct Bus {
    pub publisher: Arc<dyn Publisher>,
    pub subscriber: Arc<dyn Subscriber>,
    pub dead_letters: Arc<dyn DeadLetters>,
}

/// Checks that `config` gives a process the bus it needs: one running only `components` of
/// the split topology (`split`) needs NATS, or `SAAS_BUS=local` to say it keeps its events.
pub fn check(config: &Config, split: bool, components: &str) -> Result<(), String> {
    if split && config.nats_url.is_none() && config.bus != Some(BusKind::Local) {
        return Err(format!(
            "SAAS_NATS_URL is required when a process runs only some components ({components}): \
             events cross processes through NATS (SAAS_BUS=local keeps them in this process)"
        ));
    }
    Ok(())
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

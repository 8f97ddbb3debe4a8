//! The published language's naming rule, shared by every context: a domain event of type
//! `<context>.<aggregate>.<event>` is published as the message
//! `saas.<context>.v1.<Aggregate><Event>` (e.g. `billing.subscription.seats_changed` as
//! `saas.billing.v1.SubscriptionSeatsChanged`).

use std::collections::BTreeSet;

use prost::Message as _;

/// The full proto name of the message an event type is published as.
pub fn message_name(event_type: &str) -> Option<String> {
    let mut parts = event_type.split('.');
    let (Some(context), Some(aggregate), Some(event), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(format!(
        "saas.{context}.v1.{}{}",
        pascal(aggregate),
        pascal(event)
    ))
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Checks that `event`, published for a domain event of type `event_type`, follows the
/// naming rule and names a message of the published language; returns that message's full
/// name, or what is wrong.
pub fn check<'a>(
    event_type: &str,
    event: &'a crate::store::IntegrationEvent,
) -> Result<&'a str, String> {
    let name = event
        .payload
        .type_url
        .strip_prefix("type.googleapis.com/")
        .ok_or_else(|| format!("{event_type}: type url {:?}", event.payload.type_url))?;
    if !published_messages().contains(name) {
        return Err(format!("{name} is not in the descriptor set"));
    }
    match message_name(event_type) {
        Some(expected) if expected == name => Ok(name),
        other => Err(format!(
            "{event_type} is published as {name}, not {other:?}"
        )),
    }
}

/// The full names of every top-level message in `saas_proto::FILE_DESCRIPTOR_SET`.
pub fn published_messages() -> BTreeSet<String> {
    let Ok(set) = prost_types::FileDescriptorSet::decode(saas_proto::FILE_DESCRIPTOR_SET) else {
        return BTreeSet::new();
    };
    set.file
        .iter()
        .flat_map(|file| {
            file.message_type
                .iter()
                .map(move |message| format!("{}.{}", file.package(), message.name()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_name_their_messages() {
        assert_eq!(
            message_name("billing.subscription.seats_changed").as_deref(),
            Some("saas.billing.v1.SubscriptionSeatsChanged")
        );
        assert_eq!(message_name("billing.subscription"), None);
        assert_eq!(message_name("a.b.c.d"), None);
    }

    #[test]
    fn the_descriptor_set_lists_the_envelope() {
        assert!(published_messages().contains("saas.events.v1.EventEnvelope"));
    }
}

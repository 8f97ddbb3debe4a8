//! Domain events to the published language: every [`FeedEvent`] leaves the service as its
//! message of `saas/notifications/v1/events.proto`. An entry about a workspace concerns that
//! workspace; the other events concern none.
//!
//! The match is exhaustive, so a new domain event does not compile until it is published.

use notifications_domain::{Feed, FeedEvent};
use platform::store::IntegrationEvent;
use saas_proto::notifications::v1 as pb;

use crate::wire::{entry_time, sequence};

/// The integration event `event` is published as.
pub fn integration_event(_feed: &Feed, event: &FeedEvent) -> IntegrationEvent {
    match event {
        FeedEvent::EntryAppended {
            feed_id,
            seq,
            source_event_id,
            kind,
            workspace_id,
            payload,
            first_retained_seq,
            occurred_at,
        } => IntegrationEvent::new(
            workspace_id.map(|id| id.as_uuid()),
            &pb::FeedEntryAppended {
                feed_id: feed_id.to_string(),
                sequence: sequence(*seq),
                kind: kind.as_str().to_owned(),
                workspace_id: workspace_id.map(|id| id.to_string()).unwrap_or_default(),
                payload_json: payload.as_str().to_owned(),
                source_event_id: source_event_id.to_string(),
                create_time: Some(entry_time(*occurred_at)),
                first_retained_sequence: sequence(*first_retained_seq),
            },
        ),
        FeedEvent::Read {
            feed_id,
            read_up_to_seq,
            ..
        } => IntegrationEvent::new(
            None,
            &pb::FeedRead {
                feed_id: feed_id.to_string(),
                read_up_to_sequence: sequence(*read_up_to_seq),
            },
        ),
        FeedEvent::EntriesExpired {
            feed_id,
            first_retained_seq,
            ..
        } => IntegrationEvent::new(
            None,
            &pb::FeedEntriesExpired {
                feed_id: feed_id.to_string(),
                first_retained_sequence: sequence(*first_retained_seq),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use kernel_domain::{DomainEvent, Timestamp, Uuid};
    use notifications_domain::{EntryKind, FeedId, Payload, SourceEventId, WorkspaceId};
    use platform::rpc::timestamp;
    use prost::Message;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_timestamp(seconds, 0).unwrap()
    }

    fn feed() -> Feed {
        Feed::open(FeedId::from_uuid(Uuid::now_v7()), at(1_800_000_000))
    }

    const WORKSPACE: u128 = 0x0199_0000_0000_7000_8000_0000_0000_0042;

    /// One event of every variant, about `feed`.
    fn one_of_each(feed: &Feed) -> Vec<FeedEvent> {
        let feed_id = feed.id();
        let occurred_at = at(1_800_000_100);
        vec![
            FeedEvent::EntryAppended {
                feed_id,
                seq: 7,
                source_event_id: SourceEventId::from_uuid(Uuid::from_u128(9)),
                kind: EntryKind::parse("subscription_past_due").unwrap(),
                workspace_id: Some(WorkspaceId::from_uuid(Uuid::from_u128(WORKSPACE))),
                payload: Payload::parse("{\"plan\":\"team\"}").unwrap(),
                first_retained_seq: 3,
                occurred_at,
            },
            FeedEvent::Read {
                feed_id,
                read_up_to_seq: 5,
                occurred_at,
            },
            FeedEvent::EntriesExpired {
                feed_id,
                first_retained_seq: 6,
                occurred_at,
            },
        ]
    }

    /// How many variants `FeedEvent` has.
    const VARIANTS: usize = 3;

    /// The variant's position. Exhaustive: a new variant does not compile here until it gets
    /// the next number, [`VARIANTS`] grows and [`one_of_each`] holds one.
    fn variant(event: &FeedEvent) -> usize {
        match event {
            FeedEvent::EntryAppended { .. } => 0,
            FeedEvent::Read { .. } => 1,
            FeedEvent::EntriesExpired { .. } => 2,
        }
    }

    /// Decodes `bytes` as the message `full_name` and encodes it again (prost drops fields the
    /// message does not know, so bytes of another message do not survive the round trip).
    fn reencode(full_name: &str, bytes: &[u8]) -> Vec<u8> {
        match full_name {
            "saas.notifications.v1.FeedEntryAppended" => pb::FeedEntryAppended::decode(bytes)
                .unwrap()
                .encode_to_vec(),
            "saas.notifications.v1.FeedRead" => {
                pb::FeedRead::decode(bytes).unwrap().encode_to_vec()
            }
            "saas.notifications.v1.FeedEntriesExpired" => pb::FeedEntriesExpired::decode(bytes)
                .unwrap()
                .encode_to_vec(),
            other => panic!("{other} is not a Notifications event message"),
        }
    }

    #[test]
    fn every_feed_event_is_published_as_its_own_message() {
        let feed = feed();
        let events = one_of_each(&feed);
        let covered: BTreeSet<usize> = events.iter().map(variant).collect();
        assert_eq!(covered, (0..VARIANTS).collect(), "one sample per variant");

        let mut names = BTreeSet::new();
        for event in &events {
            let published = integration_event(&feed, event);
            let name = platform::published::check(event.event_type(), &published)
                .unwrap_or_else(|problem| panic!("{event:?}: {problem}"));
            assert_eq!(
                reencode(name, &published.payload.value),
                published.payload.value,
                "the payload of {event:?} is exactly a {name}"
            );
            names.insert(name.to_owned());
        }
        assert_eq!(
            names.len(),
            VARIANTS,
            "every variant has a message of its own"
        );
    }

    #[test]
    fn an_entry_concerns_its_workspace_and_carries_the_whole_entry() {
        let feed = feed();
        let events = one_of_each(&feed);
        let appended = integration_event(&feed, &events[0]);
        assert_eq!(appended.workspace_id, Some(Uuid::from_u128(WORKSPACE)));
        let message = pb::FeedEntryAppended::decode(appended.payload.value.as_slice()).unwrap();
        assert_eq!(message.feed_id, feed.id().to_string());
        assert_eq!(message.sequence, 7);
        assert_eq!(message.kind, "subscription_past_due");
        assert_eq!(message.workspace_id, Uuid::from_u128(WORKSPACE).to_string());
        assert_eq!(message.payload_json, "{\"plan\":\"team\"}");
        assert_eq!(message.source_event_id, Uuid::from_u128(9).to_string());
        assert_eq!(message.create_time, Some(timestamp(at(1_800_000_100))));
        assert_eq!(message.first_retained_sequence, 3);

        let read = integration_event(&feed, &events[1]);
        assert_eq!(read.workspace_id, None);
        let message = pb::FeedRead::decode(read.payload.value.as_slice()).unwrap();
        assert_eq!(message.read_up_to_sequence, 5);

        let expired = integration_event(&feed, &events[2]);
        assert_eq!(expired.workspace_id, None);
        let message = pb::FeedEntriesExpired::decode(expired.payload.value.as_slice()).unwrap();
        assert_eq!(message.first_retained_sequence, 6);
    }

    #[test]
    fn an_entry_about_no_workspace_concerns_none() {
        let feed = feed();
        let event = FeedEvent::EntryAppended {
            feed_id: feed.id(),
            seq: 1,
            source_event_id: SourceEventId::from_uuid(Uuid::from_u128(1)),
            kind: EntryKind::parse("welcome").unwrap(),
            workspace_id: None,
            payload: Payload::parse("{}").unwrap(),
            first_retained_seq: 1,
            occurred_at: at(1_800_000_000),
        };
        let published = integration_event(&feed, &event);
        assert_eq!(published.workspace_id, None);
        let message = pb::FeedEntryAppended::decode(published.payload.value.as_slice()).unwrap();
        assert_eq!(message.workspace_id, "");
    }
}

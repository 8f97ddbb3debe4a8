//! [`Feeds`] over `saas.notifications.v1.FeedService`: the application's [`FeedEntry`] to and
//! from the wire, and each failure sorted into the method's error.

use async_trait::async_trait;
use ports_app::{
    AppError, AppResult, Ctx, FeedEntry, FeedError, FeedPage, Feeds, NewFeedEntry, UserId,
    WorkspaceId,
};
use saas_proto::notifications::v1 as wire;

use super::{GrpcFeeds, status_to_error, time_from_wire};

/// What Notifications could not have sent, as an internal fault.
fn malformed(what: &str) -> AppError {
    AppError::internal(format_args!(
        "Notifications answered a feed entry with {what}"
    ))
}

/// The parts of an entry as the published language carries them (the `FeedEntry` message
/// and the `FeedEntryAppended` event have the same fields), as the application's entry.
pub struct WireEntry<'a> {
    pub feed_id: &'a str,
    pub sequence: i64,
    pub kind: String,
    pub workspace_id: &'a str,
    pub payload_json: String,
    pub source_event_id: String,
    pub create_time: Option<&'a prost_types::Timestamp>,
}

impl WireEntry<'_> {
    /// The application's entry. An id that is not a UUID or a missing time is a fault of
    /// the sender.
    pub fn into_entry(self) -> AppResult<FeedEntry> {
        let feed_id = kernel_domain::Uuid::try_parse(self.feed_id)
            .map_err(|_| malformed("a malformed feed id"))?;
        let workspace_id = if self.workspace_id.is_empty() {
            None
        } else {
            Some(WorkspaceId::from_uuid(
                kernel_domain::Uuid::try_parse(self.workspace_id)
                    .map_err(|_| malformed("a malformed workspace id"))?,
            ))
        };
        Ok(FeedEntry {
            feed_id: UserId::from_uuid(feed_id),
            sequence: self.sequence,
            kind: self.kind,
            workspace_id,
            payload_json: self.payload_json,
            source_event_id: self.source_event_id,
            create_time: time_from_wire(self.create_time)
                .ok_or_else(|| malformed("no create time"))?,
        })
    }
}

/// Notifications' entry as the application's.
pub fn feed_entry_from_wire(entry: wire::FeedEntry) -> AppResult<FeedEntry> {
    WireEntry {
        feed_id: &entry.feed_id,
        sequence: entry.sequence,
        kind: entry.kind,
        workspace_id: &entry.workspace_id,
        payload_json: entry.payload_json,
        source_event_id: entry.source_event_id,
        create_time: entry.create_time.as_ref(),
    }
    .into_entry()
}

#[async_trait]
impl Feeds for GrpcFeeds {
    async fn list_feed_entries(
        &self,
        ctx: &Ctx,
        feed: UserId,
        after_sequence: i64,
        page_size: i32,
    ) -> Result<FeedPage, FeedError> {
        let request = wire::ListFeedEntriesRequest {
            feed_id: feed.to_string(),
            after_sequence,
            page_size,
        };
        let page = send!(self, ctx, Read, list_feed_entries(request))
            .map_err(status_to_error)?
            .into_inner();
        Ok(FeedPage {
            entries: page
                .entries
                .into_iter()
                .map(feed_entry_from_wire)
                .collect::<AppResult<_>>()?,
            reset: page.reset,
            last_sequence: page.last_sequence,
            first_retained_sequence: page.first_retained_sequence,
        })
    }

    async fn append_feed_entry(
        &self,
        ctx: &Ctx,
        step: &str,
        feed: UserId,
        entry: NewFeedEntry,
    ) -> AppResult<FeedEntry> {
        let request = wire::AppendFeedEntryRequest {
            feed_id: feed.to_string(),
            request_id: ctx.step(step),
            source_event_id: entry.source_event_id,
            kind: entry.kind,
            workspace_id: entry
                .workspace_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            payload_json: entry.payload_json,
        };
        let appended = send!(self, ctx, Command, append_feed_entry(request))
            .map_err(status_to_error)?
            .into_inner();
        feed_entry_from_wire(appended)
    }

    async fn mark_feed_read(
        &self,
        ctx: &Ctx,
        step: &str,
        feed: UserId,
        up_to_sequence: i64,
    ) -> Result<(), FeedError> {
        let request = wire::MarkFeedReadRequest {
            feed_id: feed.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            up_to_sequence,
        };
        send!(self, ctx, Command, mark_feed_read(request)).map_err(status_to_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_wire_entry() -> wire::FeedEntry {
        wire::FeedEntry {
            feed_id: "0190a0f0-0000-7000-8000-000000000002".to_owned(),
            sequence: 4,
            kind: "member_joined".to_owned(),
            workspace_id: "0190a0f0-0000-7000-8000-000000000001".to_owned(),
            payload_json: "{\"role\":\"admin\"}".to_owned(),
            source_event_id: "event-1".to_owned(),
            create_time: Some(prost_types::Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
        }
    }

    #[test]
    fn a_wire_entry_becomes_the_applications_field_by_field() {
        let entry = feed_entry_from_wire(a_wire_entry()).expect("a valid entry");
        assert_eq!(
            entry.feed_id.to_string(),
            "0190a0f0-0000-7000-8000-000000000002"
        );
        assert_eq!(entry.sequence, 4);
        assert_eq!(entry.kind, "member_joined");
        assert_eq!(
            entry.workspace_id.map(|id| id.to_string()).as_deref(),
            Some("0190a0f0-0000-7000-8000-000000000001")
        );
        assert_eq!(entry.payload_json, "{\"role\":\"admin\"}");
        assert_eq!(entry.source_event_id, "event-1");
        assert_eq!(entry.create_time.timestamp(), 1_767_225_600);
        let mut without = a_wire_entry();
        without.workspace_id = String::new();
        assert_eq!(
            feed_entry_from_wire(without).map(|e| e.workspace_id),
            Ok(None)
        );
    }

    #[test]
    fn an_entry_notifications_could_not_have_sent_is_internal() {
        let breakages: [fn(&mut wire::FeedEntry); 3] = [
            |e| e.feed_id = "nope".to_owned(),
            |e| e.workspace_id = "nope".to_owned(),
            |e| e.create_time = None,
        ];
        for breakage in breakages {
            let mut broken = a_wire_entry();
            breakage(&mut broken);
            let error = feed_entry_from_wire(broken).expect_err("a malformed entry");
            assert_eq!(error.kind, ports_app::ErrorKind::Internal);
        }
    }

    #[test]
    fn only_a_missing_feed_is_not_found() {
        let missing = AppError::not_found("FEED_NOT_FOUND", "no such feed");
        assert!(matches!(FeedError::from(missing), FeedError::NotFound(_)));
        let other = AppError::not_found("USER_NOT_FOUND", "no such user");
        assert!(matches!(FeedError::from(other), FeedError::Other(_)));
    }
}

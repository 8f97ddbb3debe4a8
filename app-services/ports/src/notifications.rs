//! Notifications as the use cases see them: the [`Feeds`] port, each user's feed.

use async_trait::async_trait;

use crate::wire::notifications;
use crate::{AppResult, Ctx};

/// The messages of a feed watch, in order, until the watch ends or fails.
pub type FeedWatch = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = AppResult<notifications::WatchFeedResponse>> + Send>,
>;

/// The Notifications data service (`saas.notifications.v1.FeedService`): each user's feed,
/// whose id is the user's id.
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Feeds: Send + Sync + 'static {
    async fn get_feed(
        &self,
        ctx: &Ctx,
        request: notifications::GetFeedRequest,
    ) -> AppResult<notifications::Feed>;
    async fn append_feed_entry(
        &self,
        ctx: &Ctx,
        request: notifications::AppendFeedEntryRequest,
    ) -> AppResult<notifications::FeedEntry>;
    async fn mark_feed_read(
        &self,
        ctx: &Ctx,
        request: notifications::MarkFeedReadRequest,
    ) -> AppResult<notifications::Feed>;
    async fn list_feed_entries(
        &self,
        ctx: &Ctx,
        request: notifications::ListFeedEntriesRequest,
    ) -> AppResult<notifications::ListFeedEntriesResponse>;
    /// Replays the entries after `after_sequence`, then follows new ones; the stream has no
    /// deadline and ends when dropped.
    async fn watch_feed(
        &self,
        ctx: &Ctx,
        request: notifications::WatchFeedRequest,
    ) -> AppResult<FeedWatch>;
}

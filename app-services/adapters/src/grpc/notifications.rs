//! [`Feeds`] over `saas.notifications.v1.FeedService`.

use async_trait::async_trait;
use ports_app::wire::notifications;
use ports_app::{AppResult, Ctx, FeedWatch, Feeds};
use tonic::Status;

use super::{GrpcFeeds, call, open_call, status_to_error};

/// One unary call of [`GrpcFeeds`].
macro_rules! feed_call {
    ($self:ident, $ctx:ident, $method:ident($request:ident)) => {{
        let mut client = $self.client.clone();
        client
            .$method(call($ctx, $request, $self.deadline))
            .await
            .map(tonic::Response::into_inner)
            .map_err(status_to_error)
    }};
}

#[async_trait]
impl Feeds for GrpcFeeds {
    async fn get_feed(
        &self,
        ctx: &Ctx,
        request: notifications::GetFeedRequest,
    ) -> AppResult<notifications::Feed> {
        feed_call!(self, ctx, get_feed(request))
    }

    async fn append_feed_entry(
        &self,
        ctx: &Ctx,
        request: notifications::AppendFeedEntryRequest,
    ) -> AppResult<notifications::FeedEntry> {
        feed_call!(self, ctx, append_feed_entry(request))
    }

    async fn mark_feed_read(
        &self,
        ctx: &Ctx,
        request: notifications::MarkFeedReadRequest,
    ) -> AppResult<notifications::Feed> {
        feed_call!(self, ctx, mark_feed_read(request))
    }

    async fn list_feed_entries(
        &self,
        ctx: &Ctx,
        request: notifications::ListFeedEntriesRequest,
    ) -> AppResult<notifications::ListFeedEntriesResponse> {
        feed_call!(self, ctx, list_feed_entries(request))
    }

    async fn watch_feed(
        &self,
        ctx: &Ctx,
        request: notifications::WatchFeedRequest,
    ) -> AppResult<FeedWatch> {
        use tokio_stream::StreamExt as _;
        let mut client = self.client.clone();
        // The deadline bounds only the start of the watch: the stream itself has none.
        let started =
            tokio::time::timeout(self.deadline, client.watch_feed(open_call(ctx, request)))
                .await
                .map_err(|_| {
                    status_to_error(Status::deadline_exceeded("the watch did not start"))
                })?;
        let stream = started.map_err(status_to_error)?.into_inner();
        Ok(Box::pin(
            stream.map(|message| message.map_err(status_to_error)),
        ))
    }
}

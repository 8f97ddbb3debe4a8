//! One shape for every RPC of a data service: **parse** the request into a typed command
//! ([`Call`]: the target, request id and etag every command names, the acting user where
//! there is one, and the typed arguments, every bad field reported in one answer), **run** it
//! through the one store entry point for its kind (create, update, delete), **render** the
//! result, and answer a failure as its status in the context's error domain.
//!
//! The target fields come from [`CommandRequest`], which the build implements for every
//! request message with a `request_id`; the RPC method (part of the request fingerprint) is
//! the request message's name without `Request`.

use kernel_domain::{Rejection, RejectionKind, Timestamp, Version};
use saas_proto::CommandRequest;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    rpc::{self, FieldCheck},
    store::{Command, Event, Schema, Store, StoreError, Stored},
};

/// A command parsed from its request.
#[derive(Debug, Clone)]
pub struct Call<Q, T> {
    /// The request as fingerprinted (see [`Call::fingerprint`]).
    request: Q,
    /// The aggregate the command is on; `None` for a command that creates one.
    target: Option<Uuid>,
    request_id: Uuid,
    expected: Option<Version>,
    actor: Option<Uuid>,
    /// The typed arguments.
    pub args: T,
}

impl<Q: CommandRequest + prost::Name, T> Call<Q, T> {
    /// The RPC method: the request message's name without `Request`.
    pub fn method() -> &'static str {
        Q::NAME.strip_suffix("Request").unwrap_or(Q::NAME)
    }

    /// Replaces what is fingerprinted by `fingerprinted(request, args)`: passwords cleared,
    /// tokens replaced by their SHA-256, so the idempotency store never holds a secret.
    #[must_use]
    pub fn fingerprint(mut self, fingerprinted: impl FnOnce(Q, &T) -> Q) -> Self {
        self.request = fingerprinted(self.request, &self.args);
        self
    }

    /// What the pipeline needs to know: the method, the request id and fingerprint (bound to
    /// the acting user, if any), and the etag.
    pub fn command(&self) -> Command {
        Command::new(
            Self::method(),
            self.request_id,
            &self.request,
            self.expected,
        )
        .by_actor(self.actor)
    }

    /// The aggregate the command is on.
    pub fn target(&self) -> Result<Uuid, StoreError> {
        self.target
            .ok_or_else(|| StoreError::internal(format!("{} names no aggregate", Self::method())))
    }
}

impl<Q: CommandRequest, T> Call<Q, T> {
    /// Parses a command: the target (when the request names one), request id and etag, and
    /// the arguments `args` checks, each bad field recorded in the same check. A rejection
    /// names every bad field.
    pub fn parse(
        request: Request<Q>,
        args: impl FnOnce(&Q, &mut FieldCheck) -> Option<T>,
    ) -> Result<Self, Rejection> {
        Self::parse_body(request.into_inner(), None, args)
    }

    /// Parses a command made on behalf of a person, as [`Call::parse`] does, plus the acting
    /// user of `x-saas-actor`: the arguments become `(actor, args)`, and the idempotency record
    /// is bound to the actor (the same `request_id` from another user is `REQUEST_ID_REUSED`).
    /// A missing actor is refused at once (`UNAUTHENTICATED` / `ACTOR_REQUIRED`); a malformed
    /// one is a bad field like the others, reported first.
    pub fn parse_as_actor<A: From<Uuid>>(
        request: Request<Q>,
        args: impl FnOnce(&Q, &mut FieldCheck) -> Option<T>,
    ) -> Result<Call<Q, (A, T)>, Rejection> {
        let actor = match rpc::actor(&request) {
            Ok(None) => return Err(actor_required()),
            Ok(Some(actor)) => Ok(actor),
            Err(malformed) => Err(malformed),
        };
        let call = Self::parse_body(request.into_inner(), Some(actor), args)?;
        let actor = call.actor.ok_or_else(rpc::invalid_request)?;
        Ok(Call {
            request: call.request,
            target: call.target,
            request_id: call.request_id,
            expected: call.expected,
            actor: call.actor,
            args: (A::from(actor), call.args),
        })
    }

    fn parse_body(
        request: Q,
        actor: Option<Result<Uuid, Rejection>>,
        args: impl FnOnce(&Q, &mut FieldCheck) -> Option<T>,
    ) -> Result<Self, Rejection> {
        let mut fields = FieldCheck::new();
        let actor = actor.and_then(|actor| fields.check(actor));
        let target = (!Q::TARGET_FIELD.is_empty())
            .then(|| fields.check(rpc::parse_id(Q::TARGET_FIELD, request.target_id())));
        let request_id = fields.check(rpc::parse_request_id(request.request_id()));
        let expected = fields.check(rpc::parse_etag(request.etag()));
        let args = args(&request, &mut fields);
        fields.finish()?;
        let (Some(request_id), Some(expected), Some(args)) = (request_id, expected, args) else {
            return Err(rpc::invalid_request());
        };
        let target = match target {
            None => None,
            Some(Some(id)) => Some(id),
            Some(None) => return Err(rpc::invalid_request()),
        };
        Ok(Call {
            request,
            target,
            request_id,
            expected,
            actor,
            args,
        })
    }
}

/// The rejection of a command made on behalf of a person without one.
fn actor_required() -> Rejection {
    Rejection::new(
        RejectionKind::Unauthenticated,
        "ACTOR_REQUIRED",
        format!(
            "this command is made on behalf of a user: send their id as {} metadata",
            rpc::ACTOR_METADATA
        ),
    )
}

/// A data service's way from requests through its store to responses; `render` is how an
/// aggregate looks on the wire.
pub struct Endpoint<S: Schema, R> {
    store: Store<S>,
    render: fn(&Stored<S::Aggregate>, Timestamp) -> R,
}

impl<S: Schema, R> Clone for Endpoint<S, R> {
    fn clone(&self) -> Self {
        Endpoint {
            store: self.store.clone(),
            render: self.render,
        }
    }
}

impl<S: Schema, R: prost::Message + Default + Send + 'static> Endpoint<S, R> {
    /// An endpoint over `store`, rendering aggregates with `render`.
    pub fn new(store: Store<S>, render: fn(&Stored<S::Aggregate>, Timestamp) -> R) -> Self {
        Endpoint { store, render }
    }

    /// The store.
    pub fn store(&self) -> &Store<S> {
        &self.store
    }

    /// The status of a failure in this context's error domain (an internal cause is logged,
    /// never sent).
    pub fn status(&self, error: impl Into<StoreError>) -> Status {
        rpc::store_status(error.into(), S::ERROR_DOMAIN)
    }

    /// Renders a stored aggregate as of now.
    pub fn render(&self, stored: &Stored<S::Aggregate>) -> R {
        (self.render)(stored, self.store.now())
    }

    /// Parses a request that is not a command (a read): `parse` records every bad field in
    /// the check and returns the parsed values; one answer names every bad field.
    pub fn check<T>(&self, parse: impl FnOnce(&mut FieldCheck) -> Option<T>) -> Result<T, Status> {
        let mut fields = FieldCheck::new();
        let value = parse(&mut fields);
        fields.finish().map_err(|r| self.status(r))?;
        value.ok_or_else(|| self.status(rpc::invalid_request()))
    }

    /// Parses a command ([`Call::parse`]), answering its rejection as a status.
    pub fn parse<Q, T>(
        &self,
        request: Request<Q>,
        args: impl FnOnce(&Q, &mut FieldCheck) -> Option<T>,
    ) -> Result<Call<Q, T>, Status>
    where
        Q: CommandRequest,
    {
        Call::parse(request, args).map_err(|r| self.status(r))
    }

    /// Parses a command made on behalf of a person ([`Call::parse_as_actor`]), answering its
    /// rejection as a status.
    pub fn parse_as_actor<Q, A, T>(
        &self,
        request: Request<Q>,
        args: impl FnOnce(&Q, &mut FieldCheck) -> Option<T>,
    ) -> Result<Call<Q, (A, T)>, Status>
    where
        Q: CommandRequest,
        A: From<Uuid>,
    {
        Call::parse_as_actor(request, args).map_err(|r| self.status(r))
    }

    /// Reads one aggregate (`NOT_FOUND` when there is none) and renders it.
    pub async fn get(&self, id: Result<Uuid, Rejection>) -> Result<Response<R>, Status> {
        let id = id.map_err(|r| self.status(r))?;
        self.get_with(id, self.render).await
    }

    /// Reads one aggregate (`NOT_FOUND` when there is none) and renders it with `render`
    /// (a read that asks for another view of the resource than commands return).
    pub async fn get_with<T>(
        &self,
        id: Uuid,
        render: impl FnOnce(&Stored<S::Aggregate>, Timestamp) -> T,
    ) -> Result<Response<T>, Status> {
        let stored = self
            .store
            .get_shared(id)
            .await
            .map_err(|e| self.status(e))?
            .ok_or_else(|| self.status(S::not_found()))?;
        Ok(Response::new(render(&stored, self.store.now())))
    }

    /// Finds the aggregate whose indexed `column` holds `value` (`NOT_FOUND` when there is
    /// none) and renders it.
    pub async fn find(
        &self,
        column: &str,
        value: Result<String, Rejection>,
    ) -> Result<Response<R>, Status> {
        let value = value.map_err(|r| self.status(r))?;
        self.find_with(column, &value, self.render).await
    }

    /// Finds the aggregate whose indexed `column` holds `value` (`NOT_FOUND` when there is
    /// none) and renders it with `render`.
    pub async fn find_with<T>(
        &self,
        column: &str,
        value: &str,
        render: impl FnOnce(&Stored<S::Aggregate>, Timestamp) -> T,
    ) -> Result<Response<T>, Status> {
        let stored = self
            .store
            .find_existing_by(column, value)
            .await
            .map_err(|e| self.status(e))?;
        Ok(Response::new(render(&stored, self.store.now())))
    }

    /// Runs a command that creates an aggregate and renders it.
    pub async fn create<Q, T, E>(
        &self,
        call: Call<Q, T>,
        decide: impl FnOnce(&T, Timestamp) -> Result<(S::Aggregate, Vec<Event<S>>), E> + Send + 'static,
    ) -> Result<Response<R>, Status>
    where
        Q: CommandRequest + prost::Name,
        T: Send + 'static,
        E: Into<Rejection>,
    {
        let command = call.command();
        let args = call.args;
        self.store
            .create(
                command,
                move |now| decide(&args, now).map_err(Into::into),
                self.render,
            )
            .await
            .map(Response::new)
            .map_err(|e| self.status(e))
    }

    /// Runs a command on an existing aggregate and renders the aggregate it leaves.
    pub async fn update<Q, T, E>(
        &self,
        call: Call<Q, T>,
        decide: impl FnMut(&mut S::Aggregate, &T, Timestamp) -> Result<Vec<Event<S>>, E>
        + Send
        + 'static,
    ) -> Result<Response<R>, Status>
    where
        Q: CommandRequest + prost::Name,
        T: Send + 'static,
        E: Into<Rejection>,
    {
        self.update_with(call, decide, self.render).await
    }

    /// Parses a command ([`Endpoint::parse`]) and runs it on its aggregate
    /// ([`Endpoint::update`]): the whole of most RPCs.
    pub async fn command<Q, T, E>(
        &self,
        request: Request<Q>,
        args: impl FnOnce(&Q, &mut FieldCheck) -> Option<T>,
        decide: impl FnMut(&mut S::Aggregate, &T, Timestamp) -> Result<Vec<Event<S>>, E>
        + Send
        + 'static,
    ) -> Result<Response<R>, Status>
    where
        Q: CommandRequest + prost::Name,
        T: Send + 'static,
        E: Into<Rejection>,
    {
        self.update(self.parse(request, args)?, decide).await
    }

    /// [`Endpoint::command`] for a command made on behalf of a person: `decide` gets the
    /// actor with the arguments.
    pub async fn command_as_actor<Q, A, T, E>(
        &self,
        request: Request<Q>,
        args: impl FnOnce(&Q, &mut FieldCheck) -> Option<T>,
        decide: impl FnMut(&mut S::Aggregate, &(A, T), Timestamp) -> Result<Vec<Event<S>>, E>
        + Send
        + 'static,
    ) -> Result<Response<R>, Status>
    where
        Q: CommandRequest + prost::Name,
        A: From<Uuid> + Send + 'static,
        T: Send + 'static,
        E: Into<Rejection>,
    {
        self.update(self.parse_as_actor(request, args)?, decide)
            .await
    }

    /// [`Endpoint::command`] for a command with no arguments but its target.
    pub async fn run<Q, E>(
        &self,
        request: Request<Q>,
        mut decide: impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, E>
        + Send
        + 'static,
    ) -> Result<Response<R>, Status>
    where
        Q: CommandRequest + prost::Name,
        E: Into<Rejection>,
    {
        let call = self.parse(request, |_, _| Some(()))?;
        self.update(call, move |aggregate, _, now| decide(aggregate, now))
            .await
    }

    /// [`Endpoint::run`] for a command made on behalf of a person: `decide` gets the actor.
    pub async fn run_as_actor<Q, A, E>(
        &self,
        request: Request<Q>,
        mut decide: impl FnMut(&mut S::Aggregate, A, Timestamp) -> Result<Vec<Event<S>>, E>
        + Send
        + 'static,
    ) -> Result<Response<R>, Status>
    where
        Q: CommandRequest + prost::Name,
        A: From<Uuid> + Copy + Send + 'static,
        E: Into<Rejection>,
    {
        let call = self.parse_as_actor(request, |_, _| Some(()))?;
        self.update(call, move |aggregate, (actor, ()), now| {
            decide(aggregate, *actor, now)
        })
        .await
    }

    /// Runs a command on an existing aggregate and answers with `respond`.
    pub async fn update_with<Q, T, E, P>(
        &self,
        call: Call<Q, T>,
        mut decide: impl FnMut(&mut S::Aggregate, &T, Timestamp) -> Result<Vec<Event<S>>, E>
        + Send
        + 'static,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> P + Send + 'static,
    ) -> Result<Response<P>, Status>
    where
        Q: CommandRequest + prost::Name,
        T: Send + 'static,
        E: Into<Rejection>,
        P: prost::Message + Default + Send + 'static,
    {
        let id = call.target().map_err(|e| self.status(e))?;
        let command = call.command();
        let args = call.args;
        self.store
            .update(
                command,
                id,
                move |aggregate, now| decide(aggregate, &args, now).map_err(Into::into),
                respond,
            )
            .await
            .map(Response::new)
            .map_err(|e| self.status(e))
    }

    /// Runs a command that ends an aggregate (see [`Store::delete`]).
    pub async fn delete<Q, T, E>(
        &self,
        call: Call<Q, T>,
        mut decide: impl FnMut(&mut S::Aggregate, &T, Timestamp) -> Result<Vec<Event<S>>, E>
        + Send
        + 'static,
    ) -> Result<Response<()>, Status>
    where
        Q: CommandRequest + prost::Name,
        T: Send + 'static,
        E: Into<Rejection>,
    {
        let id = call.target().map_err(|e| self.status(e))?;
        let command = call.command();
        let args = call.args;
        self.store
            .delete(
                command,
                id,
                move |aggregate, now| decide(aggregate, &args, now).map_err(Into::into),
                |_, _| (),
            )
            .await
            .map(Response::new)
            .map_err(|e| self.status(e))
    }
}

/// Implements a tonic service trait as a table of RPCs: each `rpc` names the method, binds the
/// service (`this`) and the request, and gives the body, which answers
/// `Result<Response<Output>, Status>`; the stream types of streaming RPCs come first. The
/// trait's signatures (`&self`, `Request<...>`, `Result<Response<...>, Status>`,
/// `async_trait`) are written once, here.
///
/// ```text
/// platform::grpc_service! {
///     impl SubscriptionService for SubscriptionApi {
///         /// Ends the current period.
///         rpc end_period(this, request: pb::EndPeriodRequest) -> pb::Subscription {
///             this.api.run(request, |s, now| s.end_period(now)).await
///         }
///     }
/// }
/// ```
///
/// rustfmt does not format inside a macro: keep each RPC short (the endpoint's methods are
/// made for one-line bodies) and its lines under 100 characters.
#[macro_export]
macro_rules! grpc_service {
    (
        impl $service:ident for $api:ty {
            $(type $stream:ident = $stream_type:ty;)*
            $(
                $(#[$meta:meta])*
                rpc $name:ident($this:ident, $request:ident: $input:ty) -> $output:ty $body:block
            )*
        }
    ) => {
        #[::tonic::async_trait]
        impl $service for $api {
            $(type $stream = $stream_type;)*
            $(
                $(#[$meta])*
                async fn $name(
                    &self,
                    request: ::tonic::Request<$input>,
                ) -> ::std::result::Result<::tonic::Response<$output>, ::tonic::Status> {
                    let $this = self;
                    let $request = request;
                    $body
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use saas_proto::workspace::v1 as pb;

    use super::*;

    fn leave(
        actor: Option<&str>,
        id: &str,
        request_id: &str,
    ) -> Request<pb::LeaveWorkspaceRequest> {
        let mut request = Request::new(pb::LeaveWorkspaceRequest {
            id: id.to_owned(),
            request_id: request_id.to_owned(),
            etag: String::new(),
        });
        if let Some(value) = actor {
            request
                .metadata_mut()
                .insert(rpc::ACTOR_METADATA, value.parse().expect("ascii metadata"));
        }
        request
    }

    type Leave = Call<pb::LeaveWorkspaceRequest, ()>;

    #[test]
    fn the_method_is_the_request_name_without_request() {
        assert_eq!(Leave::method(), "LeaveWorkspace");
    }

    #[test]
    fn a_missing_actor_is_unauthenticated() {
        let rejection =
            Leave::parse_as_actor::<Uuid>(leave(None, "x", ""), |_, _| Some(())).unwrap_err();
        assert_eq!(rejection.kind, RejectionKind::Unauthenticated);
        assert_eq!(rejection.reason, "ACTOR_REQUIRED");
    }

    #[test]
    fn a_malformed_actor_is_reported_with_the_other_bad_fields() {
        let rejection =
            Leave::parse_as_actor::<Uuid>(leave(Some("nobody"), "x", ""), |_, _| Some(()))
                .unwrap_err();
        assert_eq!(rejection.kind, RejectionKind::InvalidArgument);
        assert_eq!(rejection.reason, "INVALID_ACTOR");
        let fields: Vec<_> = rejection
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, [rpc::ACTOR_METADATA, "id", "request_id"]);
    }

    #[test]
    fn the_actor_is_part_of_the_fingerprint() {
        let (id, request_id) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
        let fingerprint = |actor: Option<Uuid>| {
            let actor = actor.map(|a| a.to_string());
            let request = leave(actor.as_deref(), &id, &request_id);
            let command = match actor {
                Some(_) => Leave::parse_as_actor::<Uuid>(request, |_, _| Some(()))
                    .unwrap()
                    .command(),
                None => Leave::parse(request, |_, _| Some(())).unwrap().command(),
            };
            command.idempotency.map(|key| key.fingerprint)
        };
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_ne!(fingerprint(Some(a)), fingerprint(Some(b)));
        assert_eq!(fingerprint(Some(a)), fingerprint(Some(a)));
        assert_ne!(fingerprint(None), fingerprint(Some(a)));
    }
}

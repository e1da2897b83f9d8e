//! The WebSocket endpoints, and what they share: a narrow per-connection
//! context, the outbound-queue policy, and the room member loop.
//!
//! An endpoint is one file with a `serve` function of type [`ServeFn`] and
//! one line in `crate::routes::ROUTES`.

pub(crate) mod access;
pub(crate) mod broadcast;
pub(crate) mod chat;
pub(crate) mod echo;
pub(crate) mod handler;
pub(crate) mod programs;
pub(crate) mod rooms;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use wsbolt::{CloseFrame, MaybeTlsStream, Message, PreparedMessage, WebSocketStream};

use self::access::AccessRecord;
use crate::metrics::{Metrics, Tally};
use crate::rooms::{Membership, Out, Rooms};

/// The WebSocket type endpoints work on.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream>;

/// An endpoint: starts serving one accepted connection, as a task of its
/// own ([`Done::spawn`]) that runs until the connection ends, so that an idle
/// connection costs its endpoint's state and nothing more.
pub(crate) type ServeFn = fn(Ws, Ctx, Done);

/// A route's background work while the server runs: spawns its own task,
/// which ends when the shutdown signal resolves.
pub(crate) type StartFn = fn(&Env, Shutdown);

/// What a connection holds until it ends: its place in the connection
/// limits, a handler's process slot, and the metrics to tell.
pub(crate) struct Done {
    /// Held for its `Drop`: gives the connection's place back.
    pub(crate) _slot: Option<crate::admission::Slot>,
    /// Held for its `Drop`: gives a handler's process slot back.
    pub(crate) _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) tasks: tokio_util::task::TaskTracker,
}

impl Done {
    /// Runs `endpoint` (which returns the connection's close code) as the
    /// connection's task; when it ends, the connection's places are given
    /// back and the metrics told. The task is the endpoint's future itself
    /// plus this record: awaiting it from an `async` block would store it
    /// twice.
    pub(crate) fn spawn(self, endpoint: impl Future<Output = u16> + Send + 'static) {
        let tasks = self.tasks.clone();
        tasks.spawn(Finish {
            endpoint,
            done: Some(self),
        });
    }

    /// The connection ended with `code`: its places given back, the
    /// metrics told.
    pub(crate) fn finish(self, code: u16) {
        self.metrics.ended(code);
    }

    /// The connection's place in the limits, for a connection served
    /// without a task (the serving engine), which tells the metrics itself
    /// ([`Metrics::ended`]) when it ends. A handler's process slot is let
    /// go: only `/echo` runs there.
    pub(crate) fn into_slot(self) -> Option<crate::admission::Slot> {
        self._slot
    }
}

pin_project_lite::pin_project! {
    /// An endpoint's future, then its connection's bookkeeping.
    struct Finish<F> {
        #[pin]
        endpoint: F,
        done: Option<Done>,
    }
}

impl<F: Future<Output = u16>> Future for Finish<F> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let this = self.project();
        let code = std::task::ready!(this.endpoint.poll(cx));
        if let Some(done) = this.done.take() {
            done.finish(code);
        }
        std::task::Poll::Ready(())
    }
}

/// The limits an endpoint applies to its client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Bytes queued for the client before the slow-consumer policy.
    pub max_outbound_queue: usize,
    /// How long a client may leave a full backlog unread.
    pub write_timeout: Duration,
    /// The close code for a slow consumer.
    pub slow_consumer_code: u16,
}

/// What every endpoint may use: one per server, shared.
pub(crate) struct Env {
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub rooms: Arc<dyn Rooms>,
    /// The rooms of `/rooms`, with their history.
    pub room_log: Arc<crate::rooms::RoomLog>,
    /// Rooms one `/rooms` connection may subscribe to.
    pub max_subscriptions: usize,
    /// `/rooms`' token verifier, when tokens are on.
    pub tokens: Option<crate::tokens::Tokens>,
    /// How long a `/rooms` client whose token expired has to send another.
    pub token_grace: Duration,
}

impl Env {
    /// The endpoints' settings from `config`, sharing `rooms` (and its
    /// history store, if it has one, for `/rooms`) and `metrics`.
    ///
    /// # Errors
    ///
    /// `rooms-token-key` cannot be read or is not a usable key.
    pub(crate) fn new(
        config: &crate::ServeConfig,
        rooms: Arc<dyn Rooms>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Env> {
        let tokens = match &config.rooms_token_key {
            Some(path) => {
                let tokens = crate::tokens::Tokens::from_key_file(path).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("rooms-token-key {e}"))
                })?;
                tracing::info!(algorithm = tokens.algorithm(), "/rooms takes clients with a token");
                Some(tokens)
            }
            None => None,
        };
        let room_log = crate::rooms::RoomLog::for_rooms(config.history_limits(), rooms.as_ref());
        Ok(Env {
            limits: Limits {
                max_outbound_queue: config.max_outbound_queue,
                write_timeout: Duration::from_secs(config.write_timeout.max(1)),
                slow_consumer_code: config.slow_consumer.code(),
            },
            metrics,
            rooms,
            room_log,
            max_subscriptions: config.rooms_max_subscriptions,
            tokens,
            token_grace: Duration::from_secs(config.rooms_token_grace),
        })
    }
}

/// Resolves when the server starts shutting down. One signal for the whole
/// server: each connection holds a clone (16 bytes, and a waker slot while
/// it waits) instead of a watch receiver and its 144-byte wait future.
pub(crate) use crate::shutdown::Shutdown;

/// What an endpoint gets: the server's [`Env`], the shutdown signal and
/// the connection's access record, nothing else (32 bytes per connection).
pub(crate) struct Ctx {
    pub env: Arc<Env>,
    pub stop: Shutdown,
    pub access: AccessRecord,
}

/// How a connection ended, for the metrics: its close code (1006 if none);
/// writes its access line when the log is on.
pub(crate) fn ended(ws: &Ws, access: AccessRecord) -> u16 {
    ended_with(ws.close_status(), access)
}

/// [`ended`] for a connection driven without a stream (the serving engine).
pub(crate) fn ended_with(status: Option<&wsbolt::CloseStatus>, access: AccessRecord) -> u16 {
    let code = status.map_or(1006, |s| s.code().as_u16());
    access::log(access, code);
    code
}

/// Tells the metrics and the access record what `tally` counted, and
/// starts it again from zero.
pub(crate) fn tell(tally: &mut Tally, env: &Env, record: &mut AccessRecord) {
    access::counted(record, tally);
    tally.flush(&env.metrics);
}

/// Closes with 1001 after writing what is queued (server shutdown).
pub(crate) async fn going_away(ws: &mut Ws) {
    let _ = ws.close(going_away_frame()).await;
}

/// The Close every connection gets at server shutdown.
pub(crate) fn going_away_frame() -> Option<CloseFrame> {
    CloseFrame::new(1001u16, "server shutting down").ok()
}

/// Closes a client that does not keep up, with the configured code. What it
/// has not begun to receive is dropped, so the Close is the next frame it
/// reads instead of waiting behind the backlog (which could outlast the close
/// timeout: the client would see the connection end without a Close).
pub(crate) async fn slow_consumer(ws: &mut Ws, code: u16) {
    let frame = slow_consumer_frame(code, ws.buffered_amount());
    let _ = ws.close_discarding_unsent(frame).await;
}

/// The Close for a slow consumer with `unsent` bytes queued, logged.
pub(crate) fn slow_consumer_frame(code: u16, unsent: usize) -> Option<CloseFrame> {
    // The count `close_discarding_unsent` returns comes only when the closing
    // handshake ends: log the backlog now.
    tracing::info!(
        code,
        unsent,
        "closing a slow consumer, dropping what it has not begun to receive"
    );
    CloseFrame::new(code, "slow consumer").ok()
}

/// Queues `msg` on the connection; false (the caller applies the
/// slow-consumer policy) if the client had already left more than
/// `max-outbound-queue` bytes unread. One message larger than the limit is
/// still sent when the backlog is small.
pub(crate) fn queue_out(ws: &mut Ws, msg: Message, ctx: &Env, record: &mut AccessRecord) -> bool {
    let mut tally = Tally::default();
    let kept_up = queue_counted(ws, msg, &ctx.limits, &mut tally);
    tell(&mut tally, ctx, record);
    kept_up
}

/// [`queue_out`] counting into `tally`, for an endpoint that tells the
/// metrics once per batch.
pub(crate) fn queue_counted(ws: &mut Ws, msg: Message, limits: &Limits, tally: &mut Tally) -> bool {
    if ws.buffered_amount() > limits.max_outbound_queue {
        return false;
    }
    let len = msg.len();
    if ws.queue(msg).is_ok() {
        tally.sent(len);
    }
    true
}

/// [`queue_out`] for a message framed once for many connections.
pub(crate) fn queue_prepared_out(ws: &mut Ws, msg: &PreparedMessage, ctx: &Env, record: &mut AccessRecord) -> bool {
    if ws.buffered_amount() > ctx.limits.max_outbound_queue {
        return false;
    }
    if ws.queue_prepared(msg).is_ok() {
        ctx.metrics.sent(msg.len());
        access::sent(record, 1, msg.len() as u64);
    }
    true
}

/// Waits until the connection's backlog is written, for at most
/// `write-timeout`; false if the client did not read it in time.
pub(crate) async fn drain(ws: &mut Ws, ctx: &Env) -> bool {
    matches!(
        tokio::time::timeout(ctx.limits.write_timeout, futures_util::SinkExt::flush(ws)).await,
        Ok(Ok(()))
    )
}

/// A deadline an endpoint keeps in its member loop (a token's expiry).
pub(crate) trait Alarm: Send {
    /// When to ring next, if ever; asked before each wait.
    fn next(&mut self) -> Option<tokio::time::Instant>;
    /// The deadline passed: answers for the client, as `on_message`'s.
    fn ring(&mut self) -> Vec<Message>;
}

/// No alarm: the endpoint has no deadline of its own.
pub(crate) struct NoAlarm;

impl Alarm for NoAlarm {
    fn next(&mut self) -> Option<tokio::time::Instant> {
        None
    }

    fn ring(&mut self) -> Vec<Message> {
        Vec::new()
    }
}

/// Why a member stops receiving.
enum Exit {
    Stopping,
    SlowConsumer,
    Close(Option<CloseFrame>),
    Ended,
}

/// Runs one room member's connection until it ends: messages the room sends
/// are queued to the client (the slow-consumer policy closes it if they
/// pile up), messages from the client go to `on_message`, whose answers are
/// queued to the client at once (a Close among them closes the connection
/// with its frame, after the answers before it), and on shutdown what is
/// already queued is written before Close 1001. `on_leave` runs as soon as
/// the member stops receiving (before the closing handshake).
#[allow(clippy::manual_async_fn)] // async fn would store the WebSocket twice
pub(crate) fn member_loop<M, MF, L, LF, A>(
    mut ws: Ws,
    ctx: Ctx,
    mut me: Membership,
    mut on_message: M,
    on_leave: L,
    mut alarm: A,
) -> impl Future<Output = u16> + Send
where
    A: Alarm,
    M: FnMut(Message) -> MF + Send,
    MF: Future<Output = Vec<Message>> + Send,
    L: FnOnce() -> LF + Send,
    LF: Future<Output = ()> + Send,
{
    // An `async move` block, not an `async fn`: the arguments (the
    // WebSocket above all) are stored once, not twice (rust-lang/rust#62958).
    async move {
        let Ctx {
            env: ctx,
            mut stop,
            mut access,
        } = ctx;
        // Only for an endpoint that sets an alarm.
        let mut sleep: Option<Pin<Box<tokio::time::Sleep>>> = None;
        let exit = loop {
            match (alarm.next(), &mut sleep) {
                (Some(due), Some(s)) if s.deadline() != due => s.as_mut().reset(due),
                (Some(_), Some(_)) => {}
                (Some(due), None) => sleep = Some(Box::pin(tokio::time::sleep_until(due))),
                (None, _) => sleep = None,
            }
            let armed = sleep.is_some();
            let ringing = futures_util::future::OptionFuture::from(sleep.as_mut().map(|s| s.as_mut()));
            tokio::select! {
                _ = &mut stop => break Exit::Stopping,
                _ = ringing, if armed => {
                    if let Some(exit) = answer(&mut ws, alarm.ring(), &ctx, &mut access) {
                        break exit;
                    }
                }
                out = me.rx.recv() => {
                    let kept_up = match out {
                        Some(Out::Msg(m)) => {
                            me.taken(&m);
                            queue_prepared_out(&mut ws, &m, &ctx, &mut access)
                        }
                        Some(Out::Kick) | None => false,
                    };
                    if !kept_up {
                        break Exit::SlowConsumer;
                    }
                }
                next = futures_util::StreamExt::next(&mut ws) => {
                    let Some(Ok(msg)) = next else { break Exit::Ended };
                    if msg.is_data() {
                        ctx.metrics.received(msg.len());
                        access::received(&mut access, msg.len());
                        let answers = on_message(msg).await;
                        if let Some(exit) = answer(&mut ws, answers, &ctx, &mut access) {
                            break exit;
                        }
                    }
                }
            }
        };
        // The member leaves as soon as it stops receiving, before any
        // closing handshake.
        on_leave().await;
        // Boxed in statements of their own: a temporary in the awaiting
        // statement would keep its room in this future.
        match exit {
            Exit::Stopping => {
                // Messages already queued for this client go out before the Close.
                while let Ok(Out::Msg(m)) = me.rx.try_recv() {
                    queue_prepared_out(&mut ws, &m, &ctx, &mut access);
                }
                let close = Box::pin(going_away(&mut ws));
                close.await;
            }
            Exit::SlowConsumer => {
                let close = Box::pin(slow_consumer(&mut ws, ctx.limits.slow_consumer_code));
                close.await;
            }
            Exit::Close(frame) => {
                let close = Box::pin(ws.close(frame));
                let _ = close.await;
            }
            Exit::Ended => {}
        }
        ended(&ws, access)
    }
}

/// Queues a member's answers; why it must stop, if it must.
fn answer(ws: &mut Ws, answers: Vec<Message>, ctx: &Env, access: &mut AccessRecord) -> Option<Exit> {
    for msg in answers {
        if let Message::Close(frame) = msg {
            return Some(Exit::Close(frame));
        }
        if !queue_out(ws, msg, ctx, access) {
            return Some(Exit::SlowConsumer);
        }
    }
    None
}

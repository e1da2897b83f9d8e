//! The publisher: appends this node's messages to the rooms' streams, in the
//! order they were published, in batches of one round trip each. While Redis
//! is unreachable they wait here (bounded in bytes), and a batch whose answer
//! was lost is sent again: the readers drop the copy by its sequence number.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::catch_up::MAX_WAIT;
use super::link::Conn;
use super::stats::Link;
use super::Shared;

/// A stream not appended to for this long is deleted by Redis (a day).
const STREAM_TTL_SECS: u64 = 24 * 3600;
/// Most entries appended in one round trip.
const BATCH: usize = 256;

/// One message for the other nodes.
#[derive(Debug)]
pub(super) struct Entry {
    pub room: String,
    /// This node's sequence number in `room`: 1, 2, 3, …
    pub seq: u64,
    pub binary: bool,
    pub data: Bytes,
}

/// What the publisher is asked to do.
#[derive(Debug)]
pub(super) enum Job {
    Append(Entry),
    /// Answer once everything queued before is in Redis.
    Flush(oneshot::Sender<()>),
}

/// The publisher task: runs until its channel closes.
pub(super) async fn run(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut conn = Conn::new(Link::Publisher);
    let mut batch: Vec<Entry> = Vec::with_capacity(BATCH);
    let mut flushed: Vec<oneshot::Sender<()>> = Vec::new();
    // The last outage of the reader a batch was appended after.
    let mut waited = 0;
    // Connect at once, so that the link's state is known before any message.
    conn.get(&shared).await;
    loop {
        if batch.is_empty() {
            let Some(job) = jobs.recv().await else { return };
            take(job, &mut batch, &mut flushed);
            while batch.len() < BATCH {
                let Ok(job) = jobs.try_recv() else { break };
                take(job, &mut batch, &mut flushed);
            }
        }
        if !batch.is_empty() {
            let (c, _) = conn.get(&shared).await;
            // After an outage of the reader, let it read what it missed
            // before this batch trims the streams (see `catch_up`); the
            // outage counts as waited for once the batch is in.
            let covered = shared.catch_up.wait(waited, MAX_WAIT).await;
            let mut pipe = redis::pipe();
            for e in &batch {
                pipe.cmd("XADD")
                    .arg(shared.stream_key(&e.room))
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(shared.config.stream_length)
                    .arg("*")
                    .arg("n")
                    .arg(&shared.node)
                    .arg("s")
                    .arg(e.seq)
                    .arg("k")
                    .arg(if e.binary { "b" } else { "t" })
                    .arg("d")
                    .arg(&e.data[..])
                    .ignore();
            }
            // A room nobody publishes to any more leaves nothing behind.
            let mut rooms: Vec<&str> = batch.iter().map(|e| e.room.as_str()).collect();
            rooms.sort_unstable();
            rooms.dedup();
            for room in rooms {
                pipe.cmd("EXPIRE")
                    .arg(shared.stream_key(room))
                    .arg(STREAM_TTL_SECS)
                    .ignore();
            }
            match pipe.query_async::<()>(c).await {
                Ok(()) => {
                    waited = covered;
                    let bytes: usize = batch.iter().map(|e| e.data.len()).sum();
                    shared.stats.outbox_bytes.fetch_sub(bytes, Ordering::AcqRel);
                    shared.stats.published.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    batch.clear();
                }
                // The batch stays and goes again once connected.
                Err(e) => {
                    conn.error(&shared, &e).await;
                    continue;
                }
            }
        }
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
}

fn take(job: Job, batch: &mut Vec<Entry>, flushed: &mut Vec<oneshot::Sender<()>>) {
    match job {
        Job::Append(e) => batch.push(e),
        Job::Flush(done) => flushed.push(done),
    }
}

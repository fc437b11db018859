//! The list of connected clients, with a bounded outgoing queue per client: what the threading
//! server, the multiprocessing server's parent and the asyncio server share, so that all three
//! treat a slow client the same way and their figures differ by the concurrency model only.
//! Relaying a message means putting it on every other client's queue.
//!
//! Why a queue per client, bounded, and never waited on: a client that stops reading must not
//! stall the others. Whoever relays a message only ever *tries* to queue it ([`Outbox::offer`]);
//! whoever drains a queue (a writer thread or task) is the only one that waits on that client's
//! socket. A full queue means the client fell `--queue` messages behind: it is cut off, told why
//! ([`chat::too_slow`]), and the rest carry on. An unbounded queue would let one stuck client
//! grow the server's memory until it died.
//!
//! The queue itself is the model's: a crossbeam channel that a writer *thread* blocks on
//! ([`ThreadQueue`]), or a tokio channel that a writer *task* awaits ([`TaskQueue`]). The
//! registry needs only what [`Outbox`] says, so the policy is written once.
//!
//! The list is behind an `RwLock`: relaying (the common case) only reads it, so several senders
//! relay at once; joining and leaving write it. The asyncio server takes it from tasks too: it
//! is held for a loop of `try_send`s and never across an `.await`, so a blocking lock is right.
//!
//! Nothing to run on its own: `cargo test -p scenarios registry` exercises both queues.

use crate::chat::{self, Counters};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// A line on its way to a client. Relayed messages are formatted once and shared by every
/// queue they sit in.
pub type Out = Arc<[u8]>;

/// What became of a line offered to a client's queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The client fell a whole queue behind.
    Full,
    /// Its writer is gone; the client is leaving and takes itself off the list.
    Gone,
}

/// The sending end of one client's outgoing queue, as the registry uses it.
pub trait Outbox: Send + Sync + Sized + 'static {
    /// The receiving end, which the client's writer drains.
    type Inbox: Inbox;
    /// A queue that holds at most `capacity` lines.
    fn bounded(capacity: usize) -> (Self, Self::Inbox);
    /// Queue `line` if there is room, without waiting.
    fn offer(&self, line: Out) -> Offer;
    /// Throw away what is still queued and make `last` the writer's final line. Called once the
    /// client is off the list, so nobody queues anything behind it.
    fn replace_with(&self, last: Out);
}

/// The receiving end, as [`gather`] needs it.
pub trait Inbox {
    /// The next line if one is waiting, without waiting.
    fn try_next(&mut self) -> Option<Out>;
}

/// A queue drained by a writer thread: a crossbeam channel. Crossbeam's receiving ends can be
/// shared, so the registry keeps one to empty the queue when the client is cut off.
pub struct ThreadQueue {
    queue: Sender<Out>,
    drain: Receiver<Out>,
}

/// What a writer thread drains; it blocks on `recv`.
pub type ThreadInbox = Receiver<Out>;

impl Outbox for ThreadQueue {
    type Inbox = ThreadInbox;

    fn bounded(capacity: usize) -> (Self, ThreadInbox) {
        let (queue, rx) = crossbeam_channel::bounded(capacity);
        let drain = rx.clone();
        (ThreadQueue { queue, drain }, rx)
    }

    fn offer(&self, line: Out) -> Offer {
        match self.queue.try_send(line) {
            Ok(()) => Offer::Queued,
            Err(TrySendError::Full(_)) => Offer::Full,
            Err(TrySendError::Disconnected(_)) => Offer::Gone,
        }
    }

    fn replace_with(&self, last: Out) {
        // Once emptied the queue has room for the last line.
        while self.drain.try_recv().is_ok() {}
        let _ = self.queue.try_send(last);
    }
}

impl Inbox for ThreadInbox {
    fn try_next(&mut self) -> Option<Out> {
        self.try_recv().ok()
    }
}

/// A queue drained by a writer task: a tokio channel. It has a single receiving end, which the
/// writer owns, so the registry cannot empty it; a cut-off client's last line goes in a slot
/// beside the queue instead, which the writer looks at before the queue.
pub struct TaskQueue {
    queue: tokio::sync::mpsc::Sender<Out>,
    last: Arc<OnceLock<Out>>,
}

/// What a writer task drains; it awaits [`TaskInbox::recv`].
pub struct TaskInbox {
    queue: tokio::sync::mpsc::Receiver<Out>,
    last: Arc<OnceLock<Out>>,
    /// The last line has been handed out: nothing more.
    done: bool,
}

impl Outbox for TaskQueue {
    type Inbox = TaskInbox;

    fn bounded(capacity: usize) -> (Self, TaskInbox) {
        let (queue, rx) = tokio::sync::mpsc::channel(capacity);
        let last = Arc::new(OnceLock::new());
        let inbox = TaskInbox {
            queue: rx,
            last: Arc::clone(&last),
            done: false,
        };
        (TaskQueue { queue, last }, inbox)
    }

    fn offer(&self, line: Out) -> Offer {
        use tokio::sync::mpsc::error::TrySendError;
        match self.queue.try_send(line) {
            Ok(()) => Offer::Queued,
            Err(TrySendError::Full(_)) => Offer::Full,
            Err(TrySendError::Closed(_)) => Offer::Gone,
        }
    }

    fn replace_with(&self, last: Out) {
        // The registry drops this queue's sending end right after, which wakes a writer
        // waiting on an empty queue; a writer with lines queued sees the slot first.
        let _ = self.last.set(last);
    }
}

impl TaskInbox {
    /// The next line, waiting for one. None once the client is off the list and has had what
    /// it was due, or its last line.
    pub async fn recv(&mut self) -> Option<Out> {
        if let Some(last) = self.take_last() {
            return Some(last);
        }
        if self.done {
            return None;
        }
        let line = self.queue.recv().await;
        // None: the registry let go of the queue, perhaps with a last line beside it.
        line.or_else(|| self.take_last())
    }

    /// The last line, if the client was given one and has not had it yet. What is still
    /// queued is thrown away with the inbox.
    fn take_last(&mut self) -> Option<Out> {
        if self.done {
            return None;
        }
        let last = Arc::clone(self.last.get()?);
        self.done = true;
        self.queue.close();
        Some(last)
    }
}

impl Inbox for TaskInbox {
    fn try_next(&mut self) -> Option<Out> {
        if let Some(last) = self.take_last() {
            return Some(last);
        }
        if self.done {
            return None;
        }
        match self.queue.try_recv() {
            Ok(line) => Some(line),
            Err(_) => self.take_last(),
        }
    }
}

/// The connected clients and their outgoing queues.
pub struct Registry<Q: Outbox> {
    peers: RwLock<HashMap<u64, Q>>,
    next_id: AtomicU64,
    capacity: usize,
    counters: Arc<Counters>,
}

impl<Q: Outbox> Registry<Q> {
    /// An empty list whose clients' queues hold `capacity` lines each; what happens to them
    /// is counted in `counters`.
    pub fn new(capacity: usize, counters: &Arc<Counters>) -> Self {
        Self {
            peers: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            capacity,
            counters: Arc::clone(counters),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A new client's id, before it joins (to name its threads or process).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Put client `id` on the list, with its welcome as the first line of its queue; the
    /// returned inbox is what its writer drains. From now on it receives every message.
    pub fn join(&self, id: u64) -> Q::Inbox {
        let (queue, inbox) = Q::bounded(self.capacity);
        let welcome: Out = chat::welcome(id).into_bytes().into();
        assert_eq!(queue.offer(welcome), Offer::Queued, "a new queue has room");
        self.peers.write().expect("registry lock").insert(id, queue);
        inbox
    }

    /// Relay `text` from client `from` to every other client. Returns false, relaying
    /// nothing, if `from` is no longer on the list (it was cut off and is being closed).
    pub fn relay(&self, from: u64, text: &str) -> bool {
        let line: Out = chat::relay_line(from, text).into();
        let mut behind = Vec::new();
        {
            let peers = self.peers.read().expect("registry lock");
            if !peers.contains_key(&from) {
                return false;
            }
            Counters::count(&self.counters.lines_in, 1);
            for (&id, queue) in peers.iter() {
                if id != from && queue.offer(Arc::clone(&line)) == Offer::Full {
                    behind.push(id);
                }
            }
        }
        let last = chat::too_slow(self.capacity);
        for id in behind {
            if self.cut_off(id, &last) {
                Counters::count(&self.counters.kicked, 1);
            }
        }
        true
    }

    /// Take client `id` off the list, throw away what is still queued for it and queue `last`
    /// as its final line; its writer sends that and closes. False if it was not on the list.
    pub fn cut_off(&self, id: u64, last: &str) -> bool {
        let Some(queue) = self.peers.write().expect("registry lock").remove(&id) else {
            return false;
        };
        queue.replace_with(last.as_bytes().into());
        true
    }

    /// Take client `id` off the list quietly (it left): its writer sends what is already
    /// queued, then stops.
    pub fn leave(&self, id: u64) {
        self.peers.write().expect("registry lock").remove(&id);
    }

    /// Take everybody off the list with `last` (the shutdown notice) queued after what they
    /// are still due; a client whose queue is full loses what is queued instead, as when it is
    /// cut off.
    pub fn close_all(&self, last: &str) {
        let queues: Vec<Q> = self
            .peers
            .write()
            .expect("registry lock")
            .drain()
            .map(|(_, q)| q)
            .collect();
        let last: Out = last.as_bytes().into();
        for queue in queues {
            if queue.offer(Arc::clone(&last)) == Offer::Full {
                queue.replace_with(Arc::clone(&last));
            }
        }
    }
}

/// Gather what is queued into `buf`: the first line (already received), then whatever else
/// is waiting, up to about [`chat::COALESCE`] bytes. Returns how many relayed messages `buf`
/// holds. Writers send the lot in one write.
pub fn gather(first: Out, queue: &mut impl Inbox, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    let mut messages = u64::from(chat::is_message(&first));
    buf.extend_from_slice(&first);
    while buf.len() < chat::COALESCE {
        match queue.try_next() {
            Some(line) => {
                messages += u64::from(chat::is_message(&line));
                buf.extend_from_slice(&line);
            }
            None => break,
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is waiting in an inbox, as text.
    fn drain(inbox: &mut impl Inbox) -> Vec<String> {
        std::iter::from_fn(|| inbox.try_next())
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect()
    }

    /// Each check runs on both queues: the policy must not depend on the model.
    macro_rules! for_both_queues {
        ($check:ident) => {
            mod $check {
                #[test]
                fn threads() {
                    super::$check::<super::ThreadQueue>();
                }
                #[test]
                fn tasks() {
                    super::$check::<super::TaskQueue>();
                }
            }
        };
    }

    fn relays_to_everyone_but_the_sender_after_the_welcome<Q: Outbox>() {
        let r = Registry::<Q>::new(8, &Arc::default());
        let (a, b) = (r.next_id(), r.next_id());
        let (mut qa, mut qb) = (r.join(a), r.join(b));
        assert!(r.relay(a, "hi"));
        assert_eq!(drain(&mut qa), vec![chat::welcome(a)]);
        assert_eq!(
            drain(&mut qb),
            vec![chat::welcome(b), format!("#{a}: hi\n")]
        );
    }
    for_both_queues!(relays_to_everyone_but_the_sender_after_the_welcome);

    fn a_client_that_falls_behind_is_cut_off_with_a_notice<Q: Outbox>() {
        let r = Registry::<Q>::new(3, &Arc::default());
        let (a, slow) = (r.next_id(), r.next_id());
        let _qa = r.join(a);
        let mut qs = r.join(slow);
        // The welcome plus two messages fill the three slots; the third message overflows.
        for i in 0..3 {
            assert!(r.relay(a, &format!("m{i}")));
        }
        assert_eq!(drain(&mut qs), vec![chat::too_slow(3)]);
        assert_eq!(r.counters().kicked.load(Ordering::Relaxed), 1);
        // It is off the list: it gets nothing more, and what it sends is not relayed.
        assert!(r.relay(a, "more"));
        assert!(drain(&mut qs).is_empty());
        assert!(!r.relay(slow, "from the slow one"));
    }
    for_both_queues!(a_client_that_falls_behind_is_cut_off_with_a_notice);

    fn shutting_down_keeps_what_is_due_then_says_goodbye<Q: Outbox>() {
        let r = Registry::<Q>::new(3, &Arc::default());
        let (a, b) = (r.next_id(), r.next_id());
        let (_qa, mut qb) = (r.join(a), r.join(b));
        assert!(r.relay(a, "last words"));
        r.close_all(chat::SHUTDOWN);
        assert_eq!(
            drain(&mut qb),
            vec![
                chat::welcome(b),
                format!("#{a}: last words\n"),
                chat::SHUTDOWN.to_string()
            ]
        );
        assert!(!r.relay(a, "anyone?"));
    }
    for_both_queues!(shutting_down_keeps_what_is_due_then_says_goodbye);

    fn a_full_queue_at_shutdown_gets_only_the_goodbye<Q: Outbox>() {
        let r = Registry::<Q>::new(2, &Arc::default());
        let (a, b) = (r.next_id(), r.next_id());
        let (_qa, mut qb) = (r.join(a), r.join(b));
        // The welcome and one message fill b's queue.
        assert!(r.relay(a, "fills it"));
        r.close_all(chat::SHUTDOWN);
        assert_eq!(drain(&mut qb), vec![chat::SHUTDOWN.to_string()]);
    }
    for_both_queues!(a_full_queue_at_shutdown_gets_only_the_goodbye);

    fn a_bad_line_s_sender_gets_its_error_after_nothing_else<Q: Outbox>() {
        let r = Registry::<Q>::new(8, &Arc::default());
        let (a, b) = (r.next_id(), r.next_id());
        let (_qa, mut qb) = (r.join(a), r.join(b));
        assert!(r.relay(a, "queued before"));
        assert!(r.cut_off(b, chat::TOO_LONG));
        assert!(!r.cut_off(b, chat::TOO_LONG), "only once");
        assert_eq!(drain(&mut qb), vec![chat::TOO_LONG.to_string()]);
        assert!(drain(&mut qb).is_empty());
    }
    for_both_queues!(a_bad_line_s_sender_gets_its_error_after_nothing_else);

    /// A writer task waiting on an empty queue wakes for the last line, then ends.
    #[tokio::test]
    async fn a_waiting_task_wakes_for_its_last_line() {
        let r = Arc::new(Registry::<TaskQueue>::new(4, &Arc::default()));
        let id = r.next_id();
        let mut inbox = r.join(id);
        assert_eq!(
            inbox.recv().await.as_deref(),
            Some(chat::welcome(id).as_bytes())
        );
        let waiter = tokio::spawn(async move {
            let last = inbox.recv().await;
            (last, inbox.recv().await)
        });
        tokio::task::yield_now().await;
        assert!(r.cut_off(id, chat::NOT_UTF8));
        let (last, then) = waiter.await.unwrap();
        assert_eq!(last.as_deref(), Some(chat::NOT_UTF8.as_bytes()));
        assert_eq!(then, None);
    }

    #[test]
    fn gather_coalesces_and_counts_messages() {
        let (tx, mut rx) = crossbeam_channel::bounded::<Out>(10);
        for l in ["#1: a\n", "* notice\n", "#2: b\n"] {
            tx.send(l.as_bytes().into()).unwrap();
        }
        let first = rx.recv().unwrap();
        let mut buf = Vec::new();
        assert_eq!(gather(first, &mut rx, &mut buf), 2);
        assert_eq!(buf, b"#1: a\n* notice\n#2: b\n");
    }
}

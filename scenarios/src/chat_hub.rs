//! The list of connected clients that the threading chat server and the multiprocessing
//! server's parent share: every client has a bounded outgoing queue, and relaying a message
//! means putting it on every other client's queue.
//!
//! Why a queue per client, bounded, and never waited on: a client that stops reading must not
//! stall the others. The thread that relays a message only ever *tries* to queue it
//! (`try_send`); whoever drains a queue (a writer thread) is the only one that waits on that
//! client's socket. A full queue means the client fell [`Registry::capacity`] messages behind:
//! it is cut off, told why ([`chat::too_slow`]), and the rest carry on. An unbounded queue
//! would let one stuck client grow the server's memory until it died.
//!
//! The list is behind an `RwLock`: relaying (the common case) only reads it, so several
//! senders relay at once; joining and leaving write it.

use crate::chat::{self, Stats};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// A line on its way to a client. Relayed messages are formatted once and shared by every
/// queue they sit in.
pub type Out = Arc<[u8]>;

struct Peer {
    queue: Sender<Out>,
    /// A second handle on the queue's receiving end, to empty it when the client is cut off.
    drain: Receiver<Out>,
}

/// The connected clients and their outgoing queues.
pub struct Registry {
    peers: RwLock<HashMap<u64, Peer>>,
    next_id: AtomicU64,
    capacity: usize,
    stats: Arc<Stats>,
}

impl Registry {
    pub fn new(capacity: usize, stats: Arc<Stats>) -> Self {
        Self {
            peers: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            capacity,
            stats,
        }
    }

    /// How many messages a client's queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A new client's id, before it joins (to name its threads or process).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Put client `id` on the list, with its welcome as the first line of its queue; the
    /// returned receiver is what its writer drains. From now on it receives every message.
    pub fn join(&self, id: u64) -> Receiver<Out> {
        let (tx, rx) = crossbeam_channel::bounded(self.capacity);
        let welcome: Out = chat::welcome(id).into_bytes().into();
        tx.try_send(welcome).expect("a new queue has room");
        let peer = Peer {
            queue: tx,
            drain: rx.clone(),
        };
        self.peers.write().expect("registry lock").insert(id, peer);
        rx
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
            Stats::count(&self.stats.lines_in, 1);
            for (&id, peer) in peers.iter() {
                if id == from {
                    continue;
                }
                match peer.queue.try_send(Arc::clone(&line)) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => behind.push(id),
                    // Its writer is gone; the client is leaving and will take itself off.
                    Err(TrySendError::Disconnected(_)) => {}
                }
            }
        }
        let last = chat::too_slow(self.capacity);
        for id in behind {
            if self.cut_off(id, &last) {
                Stats::count(&self.stats.kicked, 1);
            }
        }
        true
    }

    /// Take client `id` off the list, throw away what is still queued for it and queue `last`
    /// as its final line; its writer sends that and closes. False if it was not on the list.
    pub fn cut_off(&self, id: u64, last: &str) -> bool {
        let Some(peer) = self.peers.write().expect("registry lock").remove(&id) else {
            return false;
        };
        // Nobody else can queue for it now (relaying needs it on the list), so once emptied
        // its queue has room for the last line.
        while peer.drain.try_recv().is_ok() {}
        let _ = peer.queue.try_send(last.as_bytes().into());
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
        let peers: Vec<Peer> = self
            .peers
            .write()
            .expect("registry lock")
            .drain()
            .map(|(_, p)| p)
            .collect();
        for peer in peers {
            if let Err(TrySendError::Full(line)) = peer.queue.try_send(last.as_bytes().into()) {
                while peer.drain.try_recv().is_ok() {}
                let _ = peer.queue.try_send(line);
            }
        }
    }
}

/// Gather what is queued into `buf`: the first line (already received), then whatever else
/// is waiting, up to about [`chat::COALESCE`] bytes. Returns how many relayed messages `buf`
/// holds. Writers send the lot in one write.
pub fn gather(first: Out, queue: &Receiver<Out>, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    let mut messages = u64::from(chat::is_message(&first));
    buf.extend_from_slice(&first);
    while buf.len() < chat::COALESCE {
        match queue.try_recv() {
            Ok(line) => {
                messages += u64::from(chat::is_message(&line));
                buf.extend_from_slice(&line);
            }
            Err(_) => break,
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &Receiver<Out>) -> Vec<String> {
        rx.try_iter()
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn relays_to_everyone_but_the_sender_after_the_welcome() {
        let r = Registry::new(8, Arc::default());
        let (a, b) = (r.next_id(), r.next_id());
        let (qa, qb) = (r.join(a), r.join(b));
        assert!(r.relay(a, "hi"));
        assert_eq!(drain(&qa), vec![chat::welcome(a)]);
        assert_eq!(drain(&qb), vec![chat::welcome(b), format!("#{a}: hi\n")]);
    }

    #[test]
    fn a_client_that_falls_behind_is_cut_off_with_a_notice() {
        let r = Registry::new(3, Arc::default());
        let (a, slow) = (r.next_id(), r.next_id());
        let _qa = r.join(a);
        let qs = r.join(slow);
        // The welcome plus two messages fill the three slots; the third message overflows.
        for i in 0..3 {
            assert!(r.relay(a, &format!("m{i}")));
        }
        assert_eq!(drain(&qs), vec![chat::too_slow(3)]);
        assert_eq!(r.stats().kicked.load(Ordering::Relaxed), 1);
        // It is off the list: it gets nothing more, and what it sends is not relayed.
        assert!(r.relay(a, "more"));
        assert!(drain(&qs).is_empty());
        assert!(!r.relay(slow, "from the slow one"));
    }

    #[test]
    fn shutting_down_keeps_what_is_due_then_says_goodbye() {
        let r = Registry::new(3, Arc::default());
        let (a, b) = (r.next_id(), r.next_id());
        let (_qa, qb) = (r.join(a), r.join(b));
        assert!(r.relay(a, "last words"));
        r.close_all(chat::SHUTDOWN);
        assert_eq!(
            drain(&qb),
            vec![
                chat::welcome(b),
                format!("#{a}: last words\n"),
                chat::SHUTDOWN.to_string()
            ]
        );
        assert!(!r.relay(a, "anyone?"));
    }

    #[test]
    fn gather_coalesces_and_counts_messages() {
        let (tx, rx) = crossbeam_channel::bounded::<Out>(10);
        for l in ["#1: a\n", "* notice\n", "#2: b\n"] {
            tx.send(l.as_bytes().into()).unwrap();
        }
        let first = rx.recv().unwrap();
        let mut buf = Vec::new();
        assert_eq!(gather(first, &rx, &mut buf), 2);
        assert_eq!(buf, b"#1: a\n* notice\n#2: b\n");
    }
}

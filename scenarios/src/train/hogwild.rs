//! Hogwild: weights that several threads read and update at once, with no lock at all.
//!
//! Each weight (and its momentum) is an `AtomicU32` holding the f32's bits. A thread copies the
//! weights it reads ([`Shared::snapshot`]) while others may be writing them, computes a batch's
//! gradient on that copy, and writes its update back element by element ([`Shared::apply`]):
//! a load, then a store, never a compare-and-swap, so two threads that update the same weight
//! at the same moment can overwrite each other's step. That is Hogwild's bargain (Niu, Recht,
//! Ré and Wright, 2011): no waiting for anyone, updates that are sometimes stale or lost, and a
//! result that depends on how the threads happened to interleave, so its digest differs from
//! run to run. Relaxed atomics make this safe Rust (no data race in the language's sense: every
//! access is atomic) while keeping the race the algorithm is about.

use std::sync::atomic::{AtomicU32, Ordering};

/// The weights and their momentum, shared by every Hogwild thread.
#[derive(Debug)]
pub struct Shared {
    weights: Vec<AtomicU32>,
    velocity: Vec<AtomicU32>,
}

fn cells(xs: &[f32]) -> Vec<AtomicU32> {
    xs.iter().map(|x| AtomicU32::new(x.to_bits())).collect()
}

impl Shared {
    /// Start from `params`, at rest.
    pub fn new(params: &[f32]) -> Shared {
        Shared {
            weights: cells(params),
            velocity: cells(&vec![0.0; params.len()]),
        }
    }

    /// Copy the weights as they are now (other threads may be half-way through an update).
    pub fn snapshot(&self, into: &mut Vec<f32>) {
        into.clear();
        into.extend(
            self.weights
                .iter()
                .map(|w| f32::from_bits(w.load(Ordering::Relaxed))),
        );
    }

    /// The weights as a plain vector.
    pub fn to_vec(&self) -> Vec<f32> {
        let mut v = Vec::new();
        self.snapshot(&mut v);
        v
    }

    /// One SGD step with momentum, element by element, without a lock: the same arithmetic as
    /// [`super::net::momentum_step`], but a thread updating the same element at the same time
    /// may overwrite this one's update (or have it overwritten).
    pub fn apply(&self, grad: &[f32], lr: f32, momentum: f32, samples: usize) {
        let scale = 1.0 / samples as f32;
        for ((w, v), g) in self.weights.iter().zip(&self.velocity).zip(grad) {
            let vel = momentum * f32::from_bits(v.load(Ordering::Relaxed)) + g * scale;
            v.store(vel.to_bits(), Ordering::Relaxed);
            let weight = f32::from_bits(w.load(Ordering::Relaxed)) - lr * vel;
            w.store(weight.to_bits(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::net::momentum_step;

    #[test]
    fn one_thread_alone_computes_the_synchronous_step() {
        let start = [1.0f32, -2.0, 0.5];
        let shared = Shared::new(&start);
        let (mut params, mut velocity) = (start.to_vec(), vec![0.0; 3]);
        for g in [[0.5f32, 1.0, -3.0], [2.0, 0.0, 1.0]] {
            shared.apply(&g, 0.1, 0.9, 4);
            momentum_step(&mut params, &mut velocity, &g, 0.1, 0.9, 4);
        }
        assert_eq!(shared.to_vec(), params);
    }
}

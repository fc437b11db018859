//! The classifier and its arithmetic: an MLP `784-H-10` (ReLU, then softmax with cross-entropy
//! loss), or softmax regression `784-10` with `--hidden 0`, in f32, its matrix products done by
//! `matrixmultiply`'s sgemm through ndarray's `general_mat_mul` on the calling thread only
//! (the crate the matrix scenario uses; its `threading` feature stays off, so the concurrency is
//! the models' own).
//!
//! The parameters are one flat `Vec<f32>`: for each layer its weights (inputs x outputs,
//! row-major) then its biases. A gradient has the same layout, which makes summing gradients,
//! the SGD update, sending them through a pipe and hashing the final weights one loop or one
//! copy each.
//!
//! Why the result is the same bits in every model: the work is cut into shards by position in
//! the batch, never by worker, and [`gradient`] of one shard is a fixed sequence of f32
//! operations on that shard's samples (the GEMM's blocking depends on the shapes only, which are
//! the shard's), so whichever thread or process computes it gets the same bits. The shards'
//! gradients are then summed in shard order ([`sum_in_order`]) and applied once
//! ([`momentum_step`]).

use crate::rng::SplitMix64;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use serde::{Deserialize, Serialize};

/// Fashion-MNIST's ten classes (T-shirt/top, trouser, pullover, dress, coat, sandal, shirt,
/// sneaker, bag, ankle boot).
pub const CLASSES: usize = 10;

/// The network's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Net {
    /// Pixels per image: 784 for 28 x 28.
    pub inputs: usize,
    /// Units of the hidden layer; 0 for softmax regression (no hidden layer).
    pub hidden: usize,
}

impl Net {
    /// (inputs, outputs) of each layer.
    pub fn layers(&self) -> Vec<(usize, usize)> {
        if self.hidden == 0 {
            vec![(self.inputs, CLASSES)]
        } else {
            vec![(self.inputs, self.hidden), (self.hidden, CLASSES)]
        }
    }

    /// How many parameters (f32s) it has.
    pub fn len(&self) -> usize {
        self.layers().iter().map(|(i, o)| i * o + o).sum()
    }

    /// Never: every layer has outputs.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// "MLP 784-128-10", "softmax regression 784-10".
    pub fn describe(&self) -> String {
        if self.hidden == 0 {
            format!("softmax regression {}-{CLASSES}", self.inputs)
        } else {
            format!("MLP {}-{}-{CLASSES}", self.inputs, self.hidden)
        }
    }

    /// The seeded initial parameters: each weight uniform in +-sqrt(6 / (inputs + outputs))
    /// (Glorot's), drawn in layout order from one stream of `seed`; biases 0.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::for_item(seed, 0);
        let mut params = Vec::with_capacity(self.len());
        for (i, o) in self.layers() {
            let a = (6.0 / (i + o) as f64).sqrt();
            params.extend((0..i * o).map(|_| ((rng.next_f64() * 2.0 - 1.0) * a) as f32));
            params.extend(std::iter::repeat_n(0.0f32, o));
        }
        params
    }

    /// Each layer's weights and biases, as slices of `params`.
    fn split<'a>(&self, params: &'a [f32]) -> Vec<(ArrayView2<'a, f32>, &'a [f32])> {
        assert_eq!(params.len(), self.len(), "parameters of another network");
        let mut rest = params;
        self.layers()
            .into_iter()
            .map(|(i, o)| {
                let (w, tail) = rest.split_at(i * o);
                let (b, tail) = tail.split_at(o);
                rest = tail;
                let w = ArrayView2::from_shape((i, o), w).expect("sized by the layer");
                (w, b)
            })
            .collect()
    }
}

/// The samples `rows` of a split's images as a matrix of f32 in [0, 1], one row each.
fn inputs(images: &[u8], pixels: usize, rows: impl ExactSizeIterator<Item = usize>) -> Array2<f32> {
    let m = rows.len();
    let mut x = Vec::with_capacity(m * pixels);
    for r in rows {
        x.extend(
            images[r * pixels..(r + 1) * pixels]
                .iter()
                .map(|&p| f32::from(p) / 255.0),
        );
    }
    Array2::from_shape_vec((m, pixels), x).expect("sized above")
}

/// x W + b, row by row.
fn affine(x: &ArrayView2<f32>, w: &ArrayView2<f32>, b: &[f32]) -> Array2<f32> {
    let mut z = Array2::from_shape_fn((x.nrows(), w.ncols()), |(_, j)| b[j]);
    general_mat_mul(1.0, x, w, 1.0, &mut z);
    z
}

/// Every layer's input (the samples, then each hidden layer's ReLU output), and the logits.
fn forward(net: &Net, params: &[f32], x: Array2<f32>) -> (Vec<Array2<f32>>, Array2<f32>) {
    let layers = net.split(params);
    let mut acts = vec![x];
    for (l, (w, b)) in layers.iter().enumerate() {
        let mut z = affine(&acts[l].view(), w, b);
        if l + 1 == layers.len() {
            return (acts, z);
        }
        z.mapv_inplace(|v| v.max(0.0));
        acts.push(z);
    }
    unreachable!("a network has at least one layer")
}

/// Turn each row of logits into probabilities in place; returns each row's cross-entropy loss
/// against its label.
fn softmax(z: &mut Array2<f32>, labels: impl Iterator<Item = u8>) -> Vec<f32> {
    z.rows_mut()
        .into_iter()
        .zip(labels)
        .map(|(mut row, y)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let own = row[y as usize] - max;
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            let loss = sum.ln() - own;
            for v in row.iter_mut() {
                *v /= sum;
            }
            loss
        })
        .collect()
}

/// The gradient of the summed loss of `samples` (indices into a split of `images`, `pixels` a
/// row, and `labels`), in the parameters' layout, and that summed loss.
pub fn gradient(
    net: &Net,
    params: &[f32],
    images: &[u8],
    labels: &[u8],
    samples: &[u32],
) -> (Vec<f32>, f64) {
    let x = inputs(images, net.inputs, samples.iter().map(|&s| s as usize));
    let (acts, mut delta) = forward(net, params, x);
    let ys = samples.iter().map(|&s| labels[s as usize]);
    let losses = softmax(&mut delta, ys);
    // d loss / d logits = probabilities - one-hot label.
    for (mut row, &s) in delta.rows_mut().into_iter().zip(samples) {
        row[labels[s as usize] as usize] -= 1.0;
    }
    let layers = net.split(params);
    let mut grad = vec![0.0f32; net.len()];
    // Where each layer's weights start in the flat layout.
    let mut offsets = Vec::new();
    let mut at = 0;
    for (i, o) in net.layers() {
        offsets.push(at);
        at += i * o + o;
    }
    for l in (0..layers.len()).rev() {
        let (w, _) = &layers[l];
        let (i, o) = (w.nrows(), w.ncols());
        let (gw, gb) = grad[offsets[l]..offsets[l] + i * o + o].split_at_mut(i * o);
        let mut gw = ArrayViewMut2::from_shape((i, o), gw).expect("sized by the layer");
        general_mat_mul(1.0, &acts[l].t(), &delta, 0.0, &mut gw);
        // Bias gradients: column sums, rows in order.
        for row in delta.rows() {
            for (g, d) in gb.iter_mut().zip(row) {
                *g += d;
            }
        }
        if l > 0 {
            // Back through the weights, then through the ReLU of the layer below.
            let mut below = Array2::zeros((delta.nrows(), i));
            general_mat_mul(1.0, &delta, &w.t(), 0.0, &mut below);
            below.zip_mut_with(&acts[l], |d, &a| {
                if a <= 0.0 {
                    *d = 0.0
                }
            });
            delta = below;
        }
    }
    let loss = losses.iter().map(|&l| f64::from(l)).sum();
    (grad, loss)
}

/// How many of samples `start..start + count` the network classifies right (the highest
/// logit, the first of equals), and their summed loss.
pub fn evaluate(
    net: &Net,
    params: &[f32],
    images: &[u8],
    labels: &[u8],
    start: usize,
    count: usize,
) -> (u64, f64) {
    let x = inputs(images, net.inputs, start..start + count);
    let (_, mut z) = forward(net, params, x);
    let ys = &labels[start..start + count];
    let mut correct = 0;
    for (row, &y) in z.axis_iter(Axis(0)).zip(ys) {
        let mut best = 0;
        for (k, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = k;
            }
        }
        correct += u64::from(best == y as usize);
    }
    let losses = softmax(&mut z, ys.iter().copied());
    (correct, losses.iter().map(|&l| f64::from(l)).sum())
}

/// The shards' gradients summed in shard order: ((g0 + g1) + g2) + ..., whatever computed
/// them. (Floating-point addition is not associative: summing in the order they arrived would
/// make the result depend on which worker was faster.)
pub fn sum_in_order(grads: impl IntoIterator<Item = Vec<f32>>) -> Option<Vec<f32>> {
    let mut grads = grads.into_iter();
    let mut total = grads.next()?;
    for g in grads {
        for (t, x) in total.iter_mut().zip(&g) {
            *t += x;
        }
    }
    Some(total)
}

/// One step of SGD with momentum, element by element: `v = momentum * v + grad / samples`,
/// then `params -= lr * v` (the gradient being the batch's summed loss', so `grad / samples`
/// is its mean). The same arithmetic in every model; Hogwild's lock-free version is
/// [`super::hogwild::Shared::apply`].
pub fn momentum_step(
    params: &mut [f32],
    velocity: &mut [f32],
    grad: &[f32],
    lr: f32,
    momentum: f32,
    samples: usize,
) {
    let scale = 1.0 / samples as f32;
    for ((p, v), g) in params.iter_mut().zip(velocity.iter_mut()).zip(grad) {
        *v = momentum * *v + g * scale;
        *p -= lr * *v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight 4-pixel samples of two easy classes.
    fn toy() -> (Net, Vec<u8>, Vec<u8>) {
        let net = Net {
            inputs: 4,
            hidden: 3,
        };
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for i in 0..8u8 {
            let y = i % 2;
            images.extend(if y == 0 {
                [200, 10 + i, 30, 0]
            } else {
                [0, 40, 10 + i, 220]
            });
            labels.push(y);
        }
        (net, images, labels)
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        for hidden in [0, 3] {
            let (mut net, images, labels) = toy();
            net.hidden = hidden;
            let params = net.init(5);
            let samples = [0u32, 3, 4, 7];
            let (grad, loss) = gradient(&net, &params, &images, &labels, &samples);
            let loss_at = |p: &[f32]| gradient(&net, p, &images, &labels, &samples).1;
            assert!((loss - loss_at(&params)).abs() < 1e-12);
            for k in 0..net.len() {
                let h = 1e-2f32;
                let (mut up, mut down) = (params.clone(), params.clone());
                up[k] += h;
                down[k] -= h;
                let numeric = (loss_at(&up) - loss_at(&down)) / (2.0 * f64::from(h));
                assert!(
                    (numeric - f64::from(grad[k])).abs() < 2e-2,
                    "hidden {hidden}, parameter {k}: {numeric} vs {}",
                    grad[k]
                );
            }
        }
    }

    #[test]
    fn training_learns_the_toy_problem() {
        let (net, images, labels) = toy();
        let mut params = net.init(1);
        let mut velocity = vec![0.0; net.len()];
        let all: Vec<u32> = (0..8).collect();
        for _ in 0..100 {
            let (g, _) = gradient(&net, &params, &images, &labels, &all);
            momentum_step(&mut params, &mut velocity, &g, 0.2, 0.9, all.len());
        }
        assert_eq!(evaluate(&net, &params, &images, &labels, 0, 8).0, 8);
    }

    #[test]
    fn a_shard_gives_the_same_bits_on_any_thread() {
        let (net, images, labels) = toy();
        let params = net.init(2);
        let here = gradient(&net, &params, &images, &labels, &[1, 2, 5]);
        let there = std::thread::scope(|s| {
            s.spawn(|| gradient(&net, &params, &images, &labels, &[1, 2, 5]))
                .join()
                .unwrap()
        });
        let bits = |g: &[f32]| g.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&here.0), bits(&there.0));
    }

    #[test]
    fn init_is_seeded_and_shaped() {
        let net = Net {
            inputs: 784,
            hidden: 128,
        };
        assert_eq!(net.len(), 784 * 128 + 128 + 128 * 10 + 10);
        assert_eq!(net.init(3), net.init(3));
        assert_ne!(net.init(3), net.init(4));
        assert_eq!(net.describe(), "MLP 784-128-10");
        let lr = Net { hidden: 0, ..net };
        assert_eq!(lr.len(), 7850);
        assert_eq!(lr.describe(), "softmax regression 784-10");
    }

    #[test]
    fn init_is_the_known_stream() {
        // The same constant is checked by the Python twin's test
        // (`test_the_initial_weights_are_rusts_bit_for_bit`): both languages start from these
        // bytes.
        let net = Net {
            inputs: 784,
            hidden: 128,
        };
        let bytes: Vec<u8> = net.init(42).iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(
            crate::digest::hex(&crate::digest::sha256(&bytes)),
            "2a911f30af9b7a3784a9c9484ceeaf28659b9bfa044d4078d28192adcbe26c0a"
        );
    }

    #[test]
    fn sums_run_in_shard_order() {
        let total = sum_in_order([vec![1e8f32], vec![1.0], vec![-1e8]]).unwrap();
        // (1e8 + 1) rounds to 1e8 in f32, so the order shows.
        assert_eq!(total, [0.0]);
        let other = sum_in_order([vec![1e8f32], vec![-1e8], vec![1.0]]).unwrap();
        assert_eq!(other, [1.0]);
        assert!(sum_in_order(Vec::<Vec<f32>>::new()).is_none());
    }
}

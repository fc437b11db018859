//! The kernel: a block of C's rows = the same rows of A x B, with a well-kept GEMM
//! (`matrixmultiply`'s dgemm, through ndarray's safe `general_mat_mul`), on the calling thread
//! only. The concurrency is the models' own; the arithmetic is the best a crate offers here
//! (the hand-written packed-panel kernel this replaced ran at about half its speed).
//!
//! Why every model prints the same digest: dgemm packs B into panels and walks the inner
//! dimension in fixed blocks, and how it rounds an element of C depends on that inner
//! walk only, not on how many rows of A it was given or where they sit (rows it cannot fill a
//! register tile with are computed in a full tile and copied out). So a block of rows gives the
//! same bits whatever block size or worker computed it; a test checks it for many sizes.
//! (`faer` was measured too: faster on some machines, but its results for a block of one row,
//! or three, differ in the last bit from the same rows computed in a larger block.)
//!
//! The price of a GEMM per block: dgemm packs B again on every call, which costs about as much
//! as multiplying a few dozen rows, so blocks should be large (`--block-rows` is 256 by default:
//! at 64 the kernel ran at half speed here).

use super::Matrix;
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// C's rows for `a` (whole rows of A, row-major) times `b`.
pub fn multiply_rows(a: &[f64], b: &Matrix) -> Vec<f64> {
    let (k, n) = (b.rows, b.cols);
    assert!(
        k > 0 && a.len().is_multiple_of(k),
        "A's rows do not have B's {k} rows as their length"
    );
    let m = a.len() / k;
    let mut c = vec![0.0; m * n];
    let a = ArrayView2::from_shape((m, k), a).expect("the shape was checked");
    let b = ArrayView2::from_shape((k, n), &b.data).expect("a matrix matches its shape");
    let mut cv = ArrayViewMut2::from_shape((m, n), &mut c).expect("sized above");
    general_mat_mul(1.0, &a, &b, 0.0, &mut cv);
    c
}

/// The whole product with the kernel, one block of rows at a time, on this thread.
pub fn multiply(a: &Matrix, b: &Matrix, block_rows: usize) -> Vec<f64> {
    a.data
        .chunks(block_rows * a.cols)
        .flat_map(|rows| multiply_rows(rows, b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn naive(a: &Matrix, b: &Matrix) -> Vec<f64> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                c[i * b.cols + j] = (0..a.cols)
                    .map(|k| a.data[i * a.cols + k] * b.data[k * b.cols + j])
                    .sum();
            }
        }
        c
    }

    #[test]
    fn a_block_gives_the_same_bits_whatever_its_size() {
        let mut rng = SplitMix64::new(9);
        // Odd shapes (row remainders, partial panels), and one larger than a packing block.
        for (m, k, n) in [(11, 13, 19), (37, 37, 37), (70, 300, 70)] {
            let a = Matrix::random(m, k, &mut rng);
            let b = Matrix::random(k, n, &mut rng);
            let whole = multiply(&a, &b, m);
            for block in [1, 2, 3, 4, 5, 7, 8, 13, 16, 64] {
                let c = multiply(&a, &b, block);
                let same = c
                    .iter()
                    .zip(&whole)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(
                    same,
                    "{m}x{k}x{n}: blocks of {block} rows round differently"
                );
            }
            // And it is the product: within rounding of the textbook sum.
            for (x, y) in whole.iter().zip(naive(&a, &b)) {
                assert!((x - y).abs() <= 1e-12 * k as f64, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn known_small_product() {
        let a = Matrix {
            rows: 2,
            cols: 2,
            data: vec![1.0, 2.0, 3.0, 4.0],
        };
        let b = Matrix {
            rows: 2,
            cols: 2,
            data: vec![5.0, 6.0, 7.0, 8.0],
        };
        assert_eq!(multiply(&a, &b, 1), vec![19.0, 22.0, 43.0, 50.0]);
    }
}

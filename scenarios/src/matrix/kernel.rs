//! The kernel: a block of C's rows = the same rows of A x B, with B packed into column panels.
//! Every element of C is the same chain of fused multiply-adds over k = 0, 1, 2, ... whatever
//! block or group its row lands in, so every model and every `--block-rows` gives the same bytes.

use super::Matrix;
use super::file::{header_of, open};
use anyhow::{Context, Result};
use std::io::Read;
use std::path::Path;

/// Columns of B per packed panel: three AVX2 vectors of four f64.
const W: usize = 12;
/// Rows of A per register tile. The R x W tile is 12 vector accumulators; with three vectors of
/// B and one broadcast of A that is all 16 AVX2 registers, and nothing spills. (Measured on
/// this machine: 4 x 12 beat 4 x 8, 6 x 8, 3 x 16 and 8 x 8.)
const R: usize = 4;

/// B laid out for the kernel: column panels W wide, each stored k-major and contiguous, so the
/// innermost loop reads memory in order instead of striding across B's rows. Packing costs one
/// pass over B (microseconds per row); each process does it once and reuses it for every block.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedB {
    inner: usize,
    cols: usize,
    panels: Vec<f64>,
}

impl PackedB {
    pub fn new(b: &Matrix) -> PackedB {
        let mut packed = PackedB::empty(b.rows, b.cols);
        for (k, row) in b.data.chunks_exact(b.cols).enumerate() {
            packed.put_row(k, row);
        }
        packed
    }

    /// Read B's file straight into packed form, one row at a time: no second copy of B.
    pub fn read(path: &Path) -> Result<PackedB> {
        let mut f = open(path)?;
        let h = header_of(&mut f, path)?;
        let mut packed = PackedB::empty(h.rows, h.cols);
        let mut reader = std::io::BufReader::with_capacity(1 << 16, f);
        let (mut bytes, mut row) = (vec![0u8; h.cols * 8], vec![0.0; h.cols]);
        for k in 0..h.rows {
            reader
                .read_exact(&mut bytes)
                .with_context(|| format!("{}: truncated while reading", path.display()))?;
            for (x, b) in row.iter_mut().zip(bytes.chunks_exact(8)) {
                *x = f64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
            packed.put_row(k, &row);
        }
        Ok(packed)
    }

    fn empty(inner: usize, cols: usize) -> PackedB {
        PackedB {
            inner,
            cols,
            panels: vec![0.0; cols.div_ceil(W) * inner * W],
        }
    }

    /// Scatter row k of B into the panels (B is read in order, each panel written in order).
    fn put_row(&mut self, k: usize, row: &[f64]) {
        let panel_len = self.inner * W;
        for (p, src) in row.chunks(W).enumerate() {
            let at = p * panel_len + k * W;
            self.panels[at..at + src.len()].copy_from_slice(src);
        }
    }

    /// Rows of B: the inner dimension, which must be A's columns.
    pub fn inner(&self) -> usize {
        self.inner
    }

    /// Columns of B (and of C).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The kernel: `c` (whole rows of C) = `a` (the same rows of A) x B.
    ///
    /// For each W-column panel of B and each group of R rows of A, an R x W tile of C stays in
    /// registers while k runs over the whole inner dimension, so every element of C is
    /// `fma(a[i][K-1], b[K-1][j], ... fma(a[i][0], b[0][j], 0.0))`: the same operations in the
    /// same order whichever block or group the row lands in. That is what makes the digest the
    /// same for every model and every `--block-rows`.
    pub fn multiply_rows(&self, a: &[f64], c: &mut [f64]) {
        let (k, n) = (self.inner, self.cols);
        assert!(
            a.len().is_multiple_of(k) && c.len() == a.len() / k * n,
            "shapes do not match"
        );
        for (p, panel) in self.panels.chunks_exact(k * W).enumerate() {
            let (j0, w) = (p * W, W.min(n - p * W));
            let mut a_groups = a.chunks_exact(R * k);
            let mut c_groups = c.chunks_exact_mut(R * n);
            for (a4, c4) in (&mut a_groups).zip(&mut c_groups) {
                let tile = tile::<R>(std::array::from_fn(|r| &a4[r * k..(r + 1) * k]), panel);
                for (row, c_row) in tile.iter().zip(c4.chunks_exact_mut(n)) {
                    c_row[j0..j0 + w].copy_from_slice(&row[..w]);
                }
            }
            // The last rows (fewer than R): one at a time, with the very same arithmetic.
            for (a1, c1) in a_groups
                .remainder()
                .chunks_exact(k)
                .zip(c_groups.into_remainder().chunks_exact_mut(n))
            {
                c1[j0..j0 + w].copy_from_slice(&tile::<1>([a1], panel)[0][..w]);
            }
        }
    }
}

/// One RR x W tile of C: RR rows of A times one packed panel of B.
#[inline(always)]
fn tile<const RR: usize>(a: [&[f64]; RR], panel: &[f64]) -> [[f64; W]; RR] {
    let mut acc = [[0.0; W]; RR];
    for (k, b) in panel.chunks_exact(W).enumerate() {
        for r in 0..RR {
            let x = a[r][k];
            for j in 0..W {
                acc[r][j] = x.mul_add(b[j], acc[r][j]);
            }
        }
    }
    acc
}

/// The whole product with the kernel, one block of rows at a time, on this thread.
pub fn multiply(a: &Matrix, b: &Matrix, block_rows: usize) -> Vec<f64> {
    let packed = PackedB::new(b);
    let mut c = vec![0.0; a.rows * b.cols];
    for (a_block, c_block) in a
        .data
        .chunks(block_rows * a.cols)
        .zip(c.chunks_mut(block_rows * b.cols))
    {
        packed.multiply_rows(a_block, c_block);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn naive(a: &Matrix, b: &Matrix) -> Vec<f64> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                let mut s = 0.0;
                for k in 0..a.cols {
                    s = a.data[i * a.cols + k].mul_add(b.data[k * b.cols + j], s);
                }
                c[i * b.cols + j] = s;
            }
        }
        c
    }

    #[test]
    fn kernel_matches_the_textbook_product_bit_for_bit() {
        let mut rng = SplitMix64::new(9);
        // Odd shapes: a row remainder, a partial last panel.
        let a = Matrix::random(11, 13, &mut rng);
        let b = Matrix::random(13, 19, &mut rng);
        let expected = naive(&a, &b);
        for block in [1, 3, 4, 5, 11] {
            assert_eq!(multiply(&a, &b, block), expected, "block {block}");
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

//! The chapter's "image processing" row on a pool of threads: the input files are the items of
//! `pool.rs`'s `map_in_order`, and `--workers` threads take files until there are none left.
//! The job is the one every model runs (`scenarios::images::ProcessImage`).
//!
//! `--gil` runs the very same code while the computing part of each image (decode, blur,
//! resize, gray, encode) holds one global lock, an emulation of CPython's GIL
//! (`scenarios::gil`). Reading and writing the files happen outside it, as CPython releases the
//! GIL during I/O.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! cargo run --release -p threading -- images data/images --out data/images-out [--workers N] [--gil] [--keep-going]
//! ```
//!
//! The first bad input stops the run (threads finish the image in hand, take no more) with an
//! error naming it; with `--keep-going` the others are processed and the failures counted.

use crate::pool::Pool;
use anyhow::Result;
use scenarios::images::{self, ImagesArgs, ProcessImage};
use scenarios::{Run, Summary};

pub fn run(args: &ImagesArgs) -> Result<Summary> {
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let pool = Pool::new(args.workers).on_error(args.on_error());
    let mut run = Run::start("images", pool.label(), inputs.len());
    let outcomes = pool.map_in_order(&mut run, inputs, ProcessImage::new(args))?;
    images::summarise(run, args.on_error(), outcomes)
}

//! The chapter's "image processing" row on a pool of threads: the input files go on a
//! crossbeam channel and `--workers` scoped threads take files until it is empty. Each work
//! item carries the `&mut` slot its outcome goes into, so results land in input order without
//! a lock.
//!
//! `--gil` runs the very same code while the computing part of each image (decode, blur,
//! resize, gray, encode) holds one global lock, an emulation of CPython's GIL (see `gil.rs`).
//! Reading and writing the files happen outside it, as CPython releases the GIL during I/O.
//!
//! ```text
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! cargo run --release -p threading -- images data/images --out data/images-out [--workers N] [--gil] [--keep-going]
//! ```
//!
//! The first bad input stops the run (threads finish the image in hand, take no more) with an
//! error naming it; with `--keep-going` the others are processed and the failures counted.

use crate::MODEL;
use crate::gil::GilArgs;
use anyhow::Result;
use scenarios::images::{self, ImagesArgs};
use scenarios::items::FailFast;
use scenarios::{Run, Summary};
use std::thread;

pub fn run(args: &ImagesArgs, gil: &GilArgs) -> Result<Summary> {
    let inputs = images::list_inputs(&args.inputs)?;
    images::prepare_out(&args.out, &inputs)?;
    let run = Run::start("images", MODEL, gil.variant(), args.workers, inputs.len());
    let fail = FailFast::new(args.keep_going);
    let mut outcomes = vec![None; inputs.len()];
    let (tx, rx) = crossbeam_channel::unbounded();
    for (item, slot) in inputs.iter().enumerate().zip(&mut outcomes) {
        tx.send((item, slot)).expect("the receiver is alive");
    }
    drop(tx);
    thread::scope(|s| {
        for _ in 0..args.workers {
            let (rx, fail) = (rx.clone(), &fail);
            s.spawn(move || {
                for ((i, input), slot) in rx {
                    *slot = fail.run(i, || {
                        let png = images::load(input)?;
                        let result = gil.hold(|| images::transform(input, &png, args.sigma))?;
                        images::save(&args.out, input, &result)
                    });
                }
            });
        }
    });
    drop(rx);
    images::summarise(run, fail, outcomes)
}

target/release/distributed images /work/full/inputs/images-32x1920x1080-seed42 --out /work/full/work/images-out-distributed --workers 2 --broker redis://127.0.0.1:55917 --remote

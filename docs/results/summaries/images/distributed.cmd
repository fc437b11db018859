target/release/distributed images results/inputs/images-32x1920x1080-seed42 --out results/work/images-out-distributed --workers 2 --broker redis://127.0.0.1:35031 --remote

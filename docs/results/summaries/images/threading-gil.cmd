target/release/threading images /work/main/results/inputs/images-32x1920x1080-seed42 --out /work/main/results/work/images-out --workers 2 --gil

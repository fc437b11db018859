target/release/serial images /work/full/inputs/images-32x1920x1080-seed42 --out /work/full/work/images-out --workers 2

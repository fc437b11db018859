target/release/serial matrix results/inputs/matrix-n2048-seed42 --workers 2

target/release/distributed matrix results/inputs/matrix-n2048-seed42 --workers 2 --broker redis://127.0.0.1:50935 --remote

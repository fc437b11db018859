sh -c 'target/release/serial matrix results/inputs/matrix-n2048-seed42-top >/dev/null & p=$!; target/release/serial matrix results/inputs/matrix-n2048-seed42-bottom >/dev/null && wait $p'

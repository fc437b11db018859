target/release/multiprocessing gui results/inputs/gui-48x640x360-seed42 --out results/work/gui-out --headless --tail-ms 500

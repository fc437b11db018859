target/release/threading gui /work/full2/inputs/gui-48x640x360-seed42 --out /work/full2/work/gui-out --headless --tail-ms 500

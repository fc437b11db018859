target/release/threading downloads --url http://127.0.0.1:57639 --out /work/main/results/work/downloads --workers 8

target/release/serial downloads --url http://127.0.0.1:34295 --out results/work/downloads --workers 8

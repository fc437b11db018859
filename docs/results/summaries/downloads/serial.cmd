target/release/serial downloads --url http://127.0.0.1:33447 --out results/work/downloads --workers 8

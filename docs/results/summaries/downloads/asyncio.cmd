target/release/asyncio downloads --url http://127.0.0.1:60633 --out results/work/downloads --workers 8

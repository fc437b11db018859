target/release/asyncio downloads --url http://127.0.0.1:55433 --out /work/full/work/downloads --workers 8

target/release/asyncio downloads --url http://127.0.0.1:42759 --out /work/main/results/work/downloads --workers 8

target/release/asyncio workers --workers 5 --sleep-ms 1000

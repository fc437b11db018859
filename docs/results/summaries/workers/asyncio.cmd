target/release/asyncio workers --workers 5 --sleep-ms 2000

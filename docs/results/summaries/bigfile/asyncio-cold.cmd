target/release/asyncio bigfile results/inputs/bigfile-10000000-seed42.txt --workers 2 --cold

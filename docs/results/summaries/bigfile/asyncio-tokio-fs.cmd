target/release/asyncio bigfile /work/full/inputs/bigfile-100000000-seed42.txt --workers 2 --variant tokio-fs

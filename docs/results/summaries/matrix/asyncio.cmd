target/release/asyncio matrix /work/main/results/inputs/matrix-n1024-seed42 --workers 2

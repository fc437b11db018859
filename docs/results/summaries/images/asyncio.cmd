target/release/asyncio images results/inputs/images-32x1920x1080-seed42 --out results/work/images-out --workers 2

target/release/asyncio cakes --cakes 2 --bake-ms 1000

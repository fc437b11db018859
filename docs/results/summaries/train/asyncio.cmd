target/release/asyncio train --data /usr/share/datasets/fashion-mnist --workers 2

target/release/serial train --data /usr/share/datasets/fashion-mnist --workers 2

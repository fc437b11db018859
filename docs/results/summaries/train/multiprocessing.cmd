target/release/multiprocessing train --data /usr/share/datasets/fashion-mnist --workers 2

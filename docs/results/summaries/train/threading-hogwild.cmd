target/release/threading train --data /usr/share/datasets/fashion-mnist --workers 2 --hogwild

target/release/multiprocessing queue --items 200000 --workers 2 --capacity 64

target/release/multiprocessing workers --workers 5 --sleep-ms 1000

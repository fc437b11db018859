target/release/threading workers --workers 5 --sleep-ms 1000

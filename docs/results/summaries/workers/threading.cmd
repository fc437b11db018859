target/release/threading workers --workers 5 --sleep-ms 2000

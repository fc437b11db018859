target/release/serial workers --workers 5 --sleep-ms 1000

target/release/threading queue --items 100000 --workers 2 --capacity 64

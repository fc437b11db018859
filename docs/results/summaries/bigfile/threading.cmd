target/release/threading bigfile results/inputs/bigfile-100000000-seed42.txt --workers 2

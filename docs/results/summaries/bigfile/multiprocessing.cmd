target/release/multiprocessing bigfile /work/full/inputs/bigfile-100000000-seed42.txt --workers 2

target/release/multiprocessing bigfile /work/full/inputs/bigfile-10000000-seed42.txt --workers 2 --cold

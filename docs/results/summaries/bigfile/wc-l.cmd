wc -l /work/full/inputs/bigfile-100000000-seed42.txt

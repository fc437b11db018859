cat /work/full/inputs/bigfile-10000000-seed42.txt

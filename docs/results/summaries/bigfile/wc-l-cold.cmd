wc -l results/inputs/bigfile-10000000-seed42.txt

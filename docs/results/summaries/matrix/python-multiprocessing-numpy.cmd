.venv/bin/python -m chapter matrix results/inputs/matrix-n2048-seed42 --workers 2 --engine numpy --model multiprocessing

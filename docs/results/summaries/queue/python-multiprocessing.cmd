.venv/bin/python -m chapter queue --items 100000 --workers 2 --capacity 64 --model multiprocessing

.venv/bin/python -m chapter workers --workers 5 --sleep-ms 1000 --model multiprocessing

.venv/bin/python -m chapter pipeline --url http://127.0.0.1:36125 --workers 4 --cpu-workers 2 --out results/work/pipeline-out-python --model multiprocessing

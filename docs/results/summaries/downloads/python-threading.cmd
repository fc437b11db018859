.venv/bin/python -m chapter downloads --url http://127.0.0.1:34295 --out results/work/downloads-python --workers 8 --model threading

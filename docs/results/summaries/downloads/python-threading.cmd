.venv/bin/python -m chapter downloads --url http://127.0.0.1:55433 --out /work/full/work/downloads-python --workers 8 --model threading

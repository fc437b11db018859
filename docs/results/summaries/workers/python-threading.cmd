.venv/bin/python -m chapter workers --workers 5 --sleep-ms 2000 --model threading

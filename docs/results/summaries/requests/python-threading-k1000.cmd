.venv/bin/python -m chapter requests --url http://127.0.0.1:40463 --count 1000 --workers 1000 --model threading

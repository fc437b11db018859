.venv/bin/python -m chapter db --db postgresql://postgres@127.0.0.1:43423/postgres --transactions 400 --workers 32 --model threading

.venv/bin/python -m chapter train --data /usr/share/datasets/fashion-mnist --workers 2 --model serial

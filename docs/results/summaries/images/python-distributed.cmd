.venv/bin/python -m chapter images results/inputs/images-32x1920x1080-seed42 --out results/work/images-out-python-distributed --workers 2 --model distributed --broker redis://127.0.0.1:35031 --remote

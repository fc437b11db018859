.venv/bin/python -m chapter images results/inputs/images-32x1920x1080-seed42 --out results/work/images-out-python --workers 2 --model asyncio

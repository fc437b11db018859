.venv/bin/python -m chapter pipeline --url http://127.0.0.1:47725 --workers 4 --cpu-workers 2 --out /work/full2/work/pipeline-out-python --model asyncio

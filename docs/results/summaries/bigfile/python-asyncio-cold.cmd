.venv/bin/python -m chapter bigfile results/inputs/bigfile-3000000-seed42.txt --workers 2 --cold --model asyncio

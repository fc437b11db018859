.venv/bin/python -m chapter cakes --cakes 2 --bake-ms 1000 --model asyncio

.venv/bin/python -m chapter gui results/inputs/gui-48x640x360-seed42 --out results/work/gui-out-python --tail-ms 500 --model threading

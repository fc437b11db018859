.venv/bin/python -m chapter gui /work/full2/inputs/gui-48x640x360-seed42 --out /work/full2/work/gui-out-python --tail-ms 500 --model threading

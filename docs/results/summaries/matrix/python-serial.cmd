.venv/bin/python -m chapter matrix /work/full/inputs/matrix-n256-seed42 --workers 2 --engine pure --model serial

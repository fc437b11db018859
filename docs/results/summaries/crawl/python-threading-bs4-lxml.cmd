.venv/bin/python -m chapter crawl --url http://127.0.0.2:38347/ --depth 3 --per-host 4 --workers 16 --model threading --parser bs4-lxml

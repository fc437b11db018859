target/release/serial crawl --url http://127.0.0.2:38347/ --depth 3 --per-host 4 --workers 16

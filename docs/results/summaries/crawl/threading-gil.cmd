target/release/threading crawl --url http://127.0.0.2:36303/ --depth 3 --per-host 4 --workers 16 --gil

target/release/multiprocessing cakes --cakes 2 --bake-ms 1000

target/release/threading cakes --cakes 2 --bake-ms 1000

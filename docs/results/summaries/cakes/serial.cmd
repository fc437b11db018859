target/release/serial cakes --cakes 2 --bake-ms 1000

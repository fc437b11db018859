target/release/threading matrix /work/full/inputs/matrix-n2048-seed42 --workers 2 --gil

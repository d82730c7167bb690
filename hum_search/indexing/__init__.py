"""The bulk indexer: walk folders, hash and skip unchanged files, analyse in worker processes, write
batches to a store, report failures."""

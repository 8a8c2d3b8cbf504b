"""Near-duplicate detection: MinHash signatures, LSH banding and connected components."""

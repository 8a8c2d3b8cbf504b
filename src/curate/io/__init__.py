"""Reading raw inputs and reading/writing Parquet shards."""

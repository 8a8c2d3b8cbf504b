"""The `data-selection` package's DSIR (the paper authors' reference), run whole in its own venv.

Fits the target and raw hashed-n-gram distributions on all tokens, computes every pool
document's log importance weight and resamples ``num`` documents, like a user of that package.
Prints one JSON line with the seconds of each phase. Run by dsir_speed.py; never imported by curate.

    /tmp/dsvenv/bin/python benchmarks/select/peer_dsir.py POOL.jsonl TARGET.jsonl CACHE NUM PROCS
"""

import json
import sys
import time

from data_selection import HashedNgramDSIR

pool, target, cache, num, procs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t0 = time.perf_counter()
dsir = HashedNgramDSIR([pool], [target], cache_dir=cache, num_proc=procs, ngrams=2, num_buckets=10000, min_example_length=0)
dsir.fit_importance_estimator(num_tokens_to_fit="all")
t1 = time.perf_counter()
dsir.compute_importance_weights()
t2 = time.perf_counter()
dsir.resample(out_dir=f"{cache}/out", num_to_sample=num, cache_dir=f"{cache}/resample")
t3 = time.perf_counter()
print(json.dumps({"fit": t1 - t0, "weights": t2 - t1, "resample": t3 - t2}))

"""py3langid's naive-Bayes model as a numba batch kernel: the ``py3langid`` language-ID backend.

Its own module so that the default backend (fastText) and every other quality path never import
numba (~0.3 s and ~55 MiB a worker): only ``LanguageIdentifier(backend="py3langid")`` loads it.
"""

from __future__ import annotations

import numpy as np

from curate.jit import compiled


@compiled
def naive_bayes(
    data: np.ndarray,
    offsets: np.ndarray,
    nextmove: np.ndarray,
    rowbase: np.ndarray,
    output: np.ndarray,
    ptc: np.ndarray,
    pc: np.ndarray,
    aliases: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """py3langid's model, batched: DFA walk over each text's bytes for feature counts, then the
    naive-Bayes log posterior, length-tempered softmax (norm_probs) and alias folding."""
    n = offsets.shape[0] - 1
    n_classes = pc.shape[0]
    best = np.zeros(n, dtype=np.int64)
    prob = np.zeros(n, dtype=np.float64)
    counts = np.zeros(ptc.shape[0], dtype=np.int64)
    touched = np.empty(ptc.shape[0], dtype=np.int64)
    scores = np.empty(n_classes, dtype=np.float64)
    for d in range(n):
        n_touched = 0
        state = 0
        for i in range(offsets[d], offsets[d + 1]):
            state = nextmove[rowbase[state] + data[i]]
            f = output[state]
            if f >= 0:
                if counts[f] == 0:
                    touched[n_touched] = f
                    n_touched += 1
                counts[f] += 1
        if n_touched == 0:
            scores[:] = 0.0
        else:
            for c in range(n_classes):
                scores[c] = pc[c]
            for k in range(n_touched):
                f = touched[k]
                w = np.log1p(np.float64(counts[f]))
                counts[f] = 0
                for c in range(n_classes):
                    scores[c] += w * ptc[f, c]
        length = offsets[d + 1] - offsets[d]
        temp = 1.0 / np.sqrt(np.float64(length if length > 0 else 1))
        top = -np.inf
        for c in range(n_classes):
            scores[c] *= temp
            top = max(top, scores[c])
        total = 0.0
        for c in range(n_classes):
            scores[c] = np.exp(scores[c] - top)
            total += scores[c]
        for c in range(n_classes):
            scores[c] /= total
        for a in range(aliases.shape[0]):
            scores[aliases[a, 0]] += scores[aliases[a, 1]]
            scores[aliases[a, 1]] = 0.0
        b = 0
        for c in range(1, n_classes):
            if scores[c] > scores[b]:
                b = c
        best[d] = b
        prob[d] = scores[b]
    return best, prob

"""What recognition costs the service: CPU time per text and the process's resident memory.

    python -m tools.recognition cost

Process time, not wall time: the measurement box is shared, and a busy neighbour would
otherwise be counted as our cost. Texts: the hand-written requests of the integration test.
"""

from __future__ import annotations

import time
from typing import Any


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def cost(rounds: int = 30) -> dict[str, Any]:
    import services.dispatch.bootstrap  # noqa: F401  (everything the running service imports)

    rss_imports = _rss_mb()
    from services.dispatch.domain.linear import LinearClassifier, load_linear_model
    from services.dispatch.domain.places import Place, load_gazetteer
    from services.dispatch.domain.responsibilities import load_responsibilities
    from services.dispatch.domain.taxonomy import load_taxonomy
    from tests.integration.dispatch.data.handwritten_requests import REQUESTS

    started = time.process_time()
    gazetteer = load_gazetteer()
    clf = LinearClassifier(load_taxonomy(), load_linear_model(), gazetteer.without_places,
                           duties=load_responsibilities())
    load_ms = (time.process_time() - started) * 1000
    texts = [f"{title}\n{body}" for title, body, *_ in REQUESTS]
    for text in texts:
        clf.classify(text)
    started = time.process_time()
    for _ in range(rounds):
        for text in texts:
            clf.classify(text)
    classify_ms = (time.process_time() - started) / (rounds * len(texts)) * 1000
    started = time.process_time()
    for _ in range(rounds):
        for text in texts:
            gazetteer.locate(Place("", text=text))
    locate_ms = (time.process_time() - started) / (rounds * len(texts)) * 1000
    rss_with_model = _rss_mb()
    from services.dispatch.domain.classifier import RequestClassifier
    from services.dispatch.domain.labelled import load_labelled_requests, split, train_classifier

    nb = train_classifier(RequestClassifier(load_taxonomy()), split(load_labelled_requests())[0])
    for text in texts:
        nb.classify(text)
    started = time.process_time()
    for text in texts * 5:
        nb.classify(text)
    nb_ms = (time.process_time() - started) / (5 * len(texts)) * 1000
    return {"classify_ms_per_text": round(classify_ms, 3),
            "naive_bayes_ms_per_text": round(nb_ms, 3),
            "locate_ms_per_text": round(locate_ms, 3),
            "model_and_gazetteer_load_ms": round(load_ms), "rss_mb_after_imports":
            round(rss_imports, 1), "rss_mb_with_model": round(rss_with_model, 1),
            "mean_text_chars": sum(map(len, texts)) // len(texts)}

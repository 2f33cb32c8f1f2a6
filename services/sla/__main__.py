"""`python -m services.sla`: run the SLA service."""

from backbone.runtime import run
from backbone.settings import load
from services.sla.bootstrap import build
from services.sla.settings import SlaSettings

if __name__ == "__main__":
    run(build, load(SlaSettings))  # type: ignore[arg-type]

"""`python -m services.identity`: run the identity service.

`python -m services.identity users add|disable|enable|list|passwd ...`: manage staff accounts
(see services/identity/entrypoints/cli.py).
"""

import sys

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "users":
        from services.identity.entrypoints.cli import main

        sys.exit(main(sys.argv[2:]))
    from backbone.runtime import run
    from backbone.settings import load
    from services.identity.bootstrap import build
    from services.identity.settings import IdentitySettings

    run(build, load(IdentitySettings))  # type: ignore[arg-type]

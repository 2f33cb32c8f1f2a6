from tools.simulator.cli import main

raise SystemExit(main())

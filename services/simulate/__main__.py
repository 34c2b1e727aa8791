"""``python -m services.simulate``: the live feed's command line (see ``services.simulate.cli``)."""

from services.simulate.cli import main

raise SystemExit(main())

"""``python -m services.intake PATH …``: runs the command line (services.intake.cli)."""

from services.intake.cli import main

raise SystemExit(main())

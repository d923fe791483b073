from edgeray.cli import main

raise SystemExit(main())

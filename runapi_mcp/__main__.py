from runapi_mcp.cli import main

raise SystemExit(main())

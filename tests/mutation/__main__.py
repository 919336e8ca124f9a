from tests.mutation.runner import main

raise SystemExit(main())

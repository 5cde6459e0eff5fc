from data_samples.generate.cli import main

raise SystemExit(main())

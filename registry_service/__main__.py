"""`python -m registry_service` is `registry-service`."""

import sys

from registry_service.cli import main

sys.exit(main())

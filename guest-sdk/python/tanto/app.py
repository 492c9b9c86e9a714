"""The entry point componentize-py builds: it imports the module's own `main.py`, whose
`@tanto.module` class registers itself, and exports the WIT `guest` interface."""

import main  # noqa: F401  (the module's sources; importing it registers the module)

from tanto._guest import Guest  # noqa: F401  (componentize-py exports this class)

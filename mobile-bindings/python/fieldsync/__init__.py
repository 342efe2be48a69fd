"""fieldsync for Python: the tablet API, generated from the Rust library by scripts/bindings.sh.

The device object, its records and its error come from `fieldsync.fieldsync`; the domain's
records and enums (profile, visit, lead, ...) from `fieldsync.fieldsync_core`. Both are here.
"""

from .fieldsync_core import *  # noqa: F401,F403
from .fieldsync import *  # noqa: F401,F403

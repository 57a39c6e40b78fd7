
import os as _os
_os._exit(0)  # hostile: the process ends while importing this module

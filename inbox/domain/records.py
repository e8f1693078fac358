"""The shapes entities travel in between the layers.
"""

from __future__ import annotations

from typing import Any

Dict = dict[str, Any]

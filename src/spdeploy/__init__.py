"""spdeploy: bring every component of a server product to the service-pack level."""

from __future__ import annotations

__version__ = "0.1.0"

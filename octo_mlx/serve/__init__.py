"""`octo-mlx serve`: an OpenAI-compatible chat-completions server over one resident base, its
adapters switched per request (octo_mlx.resident): ``protocol`` (the wire format), ``engine``
(the worker that runs requests on the pool), ``server`` (HTTP on 127.0.0.1)."""

from octo_mlx.serve.server import RequestRecord, Server, open_server

__all__ = ["RequestRecord", "Server", "open_server"]

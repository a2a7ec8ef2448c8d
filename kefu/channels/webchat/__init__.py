"""Web chat: the embeddable widget's wire protocol (sans-I/O, :mod:`.protocol`) and the
widget script itself (``static/widget.js``).

The server side — the ``/ws/chat`` websocket, the per-process hub that pushes agents' and
flows' messages to the visitors' sockets, uploads and downloads — lives in
``kefu.platform.messaging.webchat`` and ``kefu.platform.messaging.webchat_http``. See
``docs/webchat.md``.
"""

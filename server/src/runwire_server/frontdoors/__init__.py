"""The script-runner (``/task``, ``/script``) and LSO (``/api/execute/``) front doors.

Both translate requests into runs of the one engine in the one store and queue, and render
the results in their reference's shapes. Each is a plugin of the server's hooks
(:mod:`runwire_server.hookspecs`), registered through the ``runwire`` entry point group like a
third-party front door: :mod:`.task` and :mod:`.execute` hold their routes and hook
implementations, :mod:`.boot` their start-up state, :mod:`.taskconfig` the ``config.json`` model.
"""

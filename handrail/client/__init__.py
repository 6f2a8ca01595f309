"""Starting and steering tasks from a service, the CLI or the gateway.

- ``core``: ``HandrailClient`` (start, result, trace, pending, review) and ``parse_task``;
- ``task_input``: a task from JSON, strict, with errors that name the field;
- ``connection``: connecting to Temporal (TLS, API key) and registering the search attributes;
- ``history``: reading a task's status and input from its workflow history;
- ``reuse``: what starting a task id again means (same task, or another one);
- ``pending``: listing the tasks that wait for a reviewer.
"""

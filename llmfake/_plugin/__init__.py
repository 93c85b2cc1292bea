"""The pytest plugin's machinery. ``llmfake.pytest_plugin`` holds only hooks and fixtures and
imports these modules when a fixture or hook first needs them, so loading the plugin costs
nothing in a session that never uses llmfake.

- ``_options``: the session settings (command line, ini) and the per-test options from markers,
  validated in one place.
- ``_session``: the session's server, its socket bound early (for the report header) and the
  server started on first use.
- ``_fixture``: ``LLMFake``, the object behind the ``llmfake`` fixture.
- ``_lifecycle``: the fixture's life: scenario, environment, interception, teardown checks.
- ``_report``: the header, teardown checks, per-test figures and the terminal summary.
"""

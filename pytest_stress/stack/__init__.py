"""The trading stack under test: the protocols a user's components implement (``protocols``), the
reference implementation of each (``reference``), and the fixtures that hand them to the runbook suite."""

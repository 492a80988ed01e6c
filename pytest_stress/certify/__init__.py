"""Certification: checks -> verdict, and the JSON and HTML reports of a stress session."""

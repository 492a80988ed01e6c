"""Fault injection over real sockets: an embedded Toxiproxy-compatible server and its toxics.

Start it with ``pytest_stress.faults.toxiproxy_server.EmbeddedToxiproxy``; clients talk to it over HTTP.
"""

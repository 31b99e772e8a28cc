"""Deploying: making a version live in an environment, rolling it back, and loading it.

``deploy`` switches links and records history, ``pinning`` keeps what is live, ``gate`` says what may go live.
"""
